#!/bin/bash
# host-up.sh N "PEERS" [psk|pubkey]
# Emulated host = netns wfxhN whose eth0 is cabled to the underlay (Linux bridge in the root ns).
# Builds: private OVS (netdev) with br-phy (uplink, underlay IP 10.250.0.N on LOCAL), br-sec (secure VTEP 10.99.N.1
# on LOCAL, veth wfxvo<->wfxvk into the kernel), br-int (container wfxcN 10.88.0.N, VXLAN vxM to each peer's secure VTEP);
# charon (kernel-libipsec) with private /run encrypting 10.99.N.1 <-> 10.99.M.1.
set -e
n=$1; peers=$2; auth=${3:-psk}
W=/tmp/wfx; d=$W/ovs$n; s=$W/h$n; H=wfxh$n
NS="ip netns exec $H"
vs(){ $NS ovs-vsctl --db=unix:$d/db.sock "$@"; }
of(){ OVS_RUNDIR=$d $NS ovs-ofctl "$@"; }
app(){ $NS ovs-appctl -t $d/ovs-vswitchd.ctl "$@"; }
sw(){ $NS env STRONGSWAN_CONF=$s/strongswan.conf SWANCTL_DIR=$s/swanctl swanctl "$@"; }

# ---- 1. private OVS instance inside the netns (nothing in /var/run/openvswitch is touched)
mkdir -p $d
[ -f $d/conf.db ] || ovsdb-tool create $d/conf.db /usr/share/openvswitch/vswitch.ovsschema
$NS env OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d ovsdb-server $d/conf.db --remote=punix:$d/db.sock \
   --pidfile=$d/ovsdb-server.pid --unixctl=$d/ovsdb-server.ctl --log-file=$d/ovsdb-server.log --no-chdir --detach
vs --no-wait init
$NS env OVS_RUNDIR=$d OVS_LOGDIR=$d OVS_DBDIR=$d ovs-vswitchd unix:$d/db.sock \
   --pidfile=$d/ovs-vswitchd.pid --unixctl=$d/ovs-vswitchd.ctl --log-file=$d/ovs-vswitchd.log --no-chdir --detach

# ---- 2. underlay: br-phy(eth0), host IP on LOCAL; never hand cleartext aimed at a secure VTEP to LOCAL
vs add-br br-phy -- set bridge br-phy datapath_type=netdev -- add-port br-phy eth0
ip -n $H addr add 10.250.0.$n/24 dev br-phy
ip -n $H link set br-phy up
of add-flow br-phy "priority=100,in_port=eth0,ip,nw_dst=10.99.0.0/16,actions=drop"

# ---- 3. secure VTEP bridge br-sec + veth into the kernel
vs add-br br-sec -- set bridge br-sec datapath_type=netdev
# /16 + noprefixroute: OVS's ovs/route/add needs an address on the bridge whose prefix covers the peer VTEPs,
# but the kernel must not get a connected 10.99/16 route on br-sec
ip -n $H addr add 10.99.$n.1/16 dev br-sec noprefixroute
ip -n $H link set br-sec up
ip -n $H link add wfxvk type veth peer name wfxvo
ip -n $H link set wfxvk up
ip -n $H link set wfxvo up
vs add-port br-sec wfxvo
of del-flows br-sec
of add-flow br-sec "priority=10,in_port=LOCAL,actions=output:wfxvo"   # VXLAN from tnl_push -> kernel -> ipsec0
of add-flow br-sec "priority=10,in_port=wfxvo,actions=LOCAL"          # decrypted VXLAN -> output:LOCAL => tnl_pop
# kernel side: forward; accept our own VTEP address as source on wfxvk; answer OVS's ARP for peer VTEPs (proxy_arp)
$NS sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.wfxvk.rp_filter=0 \
               net.ipv4.conf.wfxvk.accept_local=1 net.ipv4.conf.wfxvk.proxy_arp=1
# decrypted packets (iif ipsec0) for our VTEP must go to OVS, not to the local stack: move 'local' rule behind
ip -n $H rule add pref 1000 lookup local
ip -n $H rule del pref 0
ip -n $H rule add pref 100 iif ipsec0 to 10.99.$n.1 lookup 100
ip -n $H route add 10.99.$n.1/32 dev wfxvk table 100
$NS ip neigh replace 10.99.$n.1 lladdr $($NS cat /sys/class/net/br-sec/address) dev wfxvk nud permanent
# no SA => no route in table 220 => drop instead of leaking to the default route
ip -n $H route add blackhole 10.99.0.0/16

# ---- 4. charon with private /run, own strongswan.conf + VICI socket
mkdir -p $s/swanctl/{conf.d,x509,x509ca,x509aa,x509ac,x509crl,x509ocsp,private,rsa,ecdsa,bliss,pkcs8,pkcs12,pubkey}
cat > $s/strongswan.conf <<EOC
charon {
  # explicit plugin list: kernel-libipsec before kernel-netlink (=> libipsec is the IPsec backend)
  load = random nonce aes sha1 sha2 md5 hmac gmp x509 pem pkcs1 pkcs8 pubkey revocation constraints kdf drbg kernel-libipsec kernel-netlink socket-default vici updown
  install_virtual_ip = no
  make_before_break = yes
  plugins {
    kernel-libipsec { allow_peer_ts = yes }   # only needed for host-to-host TS (TS == IKE peer)
    kernel-netlink  { fwmark = !0x42 }         # table-220 rule skips packets marked 0x42 ...
    socket-default  { fwmark = 0x42 }          # ... which are charon's own IKE/ESP-in-UDP packets
    vici { socket = unix://$s/charon.vici }
  }
  filelog {
    wfxlog { path = $s/charon.log
             time_format = %H:%M:%S
             default = 1
             flush_line = yes }
  }
}
swanctl {
  load = random nonce sha1 sha2 md5 aes hmac gmp x509 pem pkcs1 pkcs8 pubkey
  socket = unix://$s/charon.vici
}
EOC
{
echo "connections {"
for m in $peers; do
  if [ $n -lt $m ]; then act="start_action = start
        close_action = start
        dpd_action = restart"; else act="start_action = none"; fi
  if [ $auth = pubkey ]; then la="auth = pubkey
      certs = h$n.pem"; ra="auth = pubkey
      cacerts = ca.pem"; else la="auth = psk"; ra="auth = psk"; fi
cat <<EOC
  h$n-h$m {
    version = 2
    local_addrs = 10.250.0.$n
    remote_addrs = 10.250.0.$m
    proposals = aes128-sha256-modp2048
    keyingtries = 0
    dpd_delay = 10s
    local {
      $la
      id = 10.250.0.$n
    }
    remote {
      $ra
      id = 10.250.0.$m
    }
    children {
      sec-h$n-h$m {
        local_ts = 10.99.$n.1/32
        remote_ts = 10.99.$m.1/32
        esp_proposals = aes128-sha256
        $act
      }
    }
  }
EOC
done
echo "}"
echo "secrets {"
for m in $peers; do a=$(( n<m ? n : m )); b=$(( n<m ? m : n ))
  echo "  ike-h$m { id-a = 10.250.0.$a
    id-b = 10.250.0.$b
    secret = \"wfx-demo-psk-$a-$b\" }"
done
echo "}"
} > $s/swanctl/swanctl.conf
if [ $auth = pubkey ]; then cp $W/pki/ca.pem $s/swanctl/x509ca/; cp $W/pki/h$n.pem $s/swanctl/x509/; cp $W/pki/h$n.key $s/swanctl/private/; fi
: > $s/charon.log
$NS unshare -m --propagation private sh -c "mount -t tmpfs wfxrun$n /run && STRONGSWAN_CONF=$s/strongswan.conf exec /usr/lib/ipsec/charon" \
   >$s/charon.stdout 2>&1 </dev/null &
echo $! > $s/charon.pid        # = charon's pid (ip netns exec / unshare / sh all exec)
for i in $(seq 50); do sw --stats >/dev/null 2>&1 && break; sleep 0.2; done   # wait until VICI answers
sw --load-all >/dev/null

# ---- 5. br-int, a "container", one VXLAN port per peer's secure VTEP
vs add-br br-int -- set bridge br-int datapath_type=netdev
ip netns add wfxc$n
ip link add wfxc${n}p netns $H type veth peer name eth0 netns wfxc$n
ip -n wfxc$n link set lo up
ip -n wfxc$n addr add 10.88.0.$n/24 dev eth0
ip -n wfxc$n link set eth0 mtu 1350 up           # ipsec0 MTU 1400 - 50 (VXLAN)
ip netns exec wfxc$n ethtool -K eth0 tx off >/dev/null   # veth -> OVS userspace: no partial checksums
ip -n $H link set wfxc${n}p up
vs add-port br-int wfxc${n}p
of del-flows br-int
for m in $peers; do
  vs add-port br-int vx$m -- set interface vx$m type=vxlan options:remote_ip=10.99.$m.1 options:local_ip=10.99.$n.1 options:key=42
  app ovs/route/add 10.99.$m.1/32 br-sec >/dev/null     # OVS does not see routing table 220
  of add-flow br-int "priority=100,in_port=vx$m,actions=output:wfxc${n}p"   # split horizon for the test mesh
done
of add-flow br-int "priority=10,actions=NORMAL"
echo "host $n up"
