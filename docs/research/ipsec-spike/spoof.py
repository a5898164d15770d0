# send a CLEARTEXT VXLAN frame onto the underlay bridge, aimed at h1's secure VTEP (to test whether br-phy would tnl_pop it)
import socket, struct, sys
def csum(b):
    if len(b)%2: b+=b'\0'
    s=sum(struct.unpack('!%dH'%(len(b)//2),b)); s=(s>>16)+(s&0xffff); s+=s>>16; return (~s)&0xffff
def mac(m): return bytes.fromhex(m.replace(':',''))
def ip(src,dst,proto,payload,ident=1):
    h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),ident,0,64,proto,0,socket.inet_aton(src),socket.inet_aton(dst))
    h=h[:10]+struct.pack('!H',csum(h))+h[12:]; return h+payload
outer_dst_mac, c1mac, c2mac = sys.argv[1], sys.argv[2], sys.argv[3]
icmp=struct.pack('!BBHHH',8,0,0,0x5151,1)+b'SPOOFED-CLEARTEXT'
icmp=icmp[:2]+struct.pack('!H',csum(icmp))+icmp[4:]
inner=mac(c1mac)+mac(c2mac)+b'\x08\x00'+ip('10.88.0.2','10.88.0.1',1,icmp)
vx=struct.pack('!II',0x08000000,42<<8)+inner
udp=struct.pack('!HHHH',40000,4789,8+len(vx),0)+vx
frame=mac(outer_dst_mac)+mac('02:00:00:00:00:66')+b'\x08\x00'+ip('10.99.2.1','10.99.1.1',17,udp)
s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW); s.bind(('wfxbr0',0))
for i in range(3): s.send(frame)
print('sent',len(frame))
