"""BGP OPEN messages and capabilities through os-ken, for test/unit/bgp.test.ts.

An independent codec (Debian python3-os-ken's os_ken.lib.packet.bgp; run
with /usr/bin/python3, the interpreter that package installs into):

  decode HEX...  each HEX a whole BGP message; prints, per message, os-ken's
                 reading of it as JSON: {"type", "my_as", "hold_time",
                 "bgp_identifier", "caps": [{"code", ...fields}]} (an UPDATE:
                 {"type", "withdrawn", "attrs", "nlri"})
  build          prints OPEN messages os-ken builds, as
                 [{"name", "hex"}]: the capabilities a router such as bird
                 sends (Multiprotocol, Route Refresh, Graceful Restart with
                 and without the Restart State bit and AFI/SAFI tuples,
                 four-octet AS, an unknown code), one capability per
                 optional parameter as os-ken writes them.
"""

import json
import sys

from os_ken.lib.packet import bgp


def caps_of(msg):
    out = []
    for p in msg.opt_param:
        c = {"code": p.cap_code}
        if isinstance(p, bgp.BGPOptParamCapabilityMultiprotocol):
            c.update(afi=p.afi, safi=p.safi)
        elif isinstance(p, bgp.BGPOptParamCapabilityGracefulRestart):
            c.update(flags=p.flags, time=p.time, tuples=[list(t) for t in p.tuples])
        elif isinstance(p, bgp.BGPOptParamCapabilityFourOctetAsNumber):
            c.update(as_number=p.as_number)
        out.append(c)
    return out


def decode(hexes):
    res = []
    for h in hexes:
        msg, _cls, rest = bgp.BGPMessage.parser(bytes.fromhex(h))
        assert not rest, "bytes left over"
        if isinstance(msg, bgp.BGPOpen):
            res.append({"type": msg.type, "version": msg.version, "my_as": msg.my_as, "hold_time": msg.hold_time,
                        "bgp_identifier": msg.bgp_identifier, "caps": caps_of(msg)})
        elif isinstance(msg, bgp.BGPUpdate):
            res.append({"type": msg.type, "withdrawn": len(msg.withdrawn_routes), "attrs": len(msg.path_attributes),
                        "nlri": len(msg.nlri)})
        else:
            res.append({"type": msg.type})
    print(json.dumps(res))


def build():
    gr = bgp.BGPOptParamCapabilityGracefulRestart
    mp = bgp.BGPOptParamCapabilityMultiprotocol
    cases = [
        ("bird-like: MP ipv4, route refresh, GR restarted with ipv4 forwarding, 4-octet AS", bgp.BGPOpen(
            my_as=65001, hold_time=30, bgp_identifier="172.31.235.201", opt_param=[
                mp(afi=1, safi=1), bgp.BGPOptParamCapabilityRouteRefresh(),
                gr(flags=0x8, time=120, tuples=[(1, 1, 0x80)]),
                bgp.BGPOptParamCapabilityFourOctetAsNumber(as_number=65001)])),
        ("GR helper only: no tuples, no R bit, maximum time; an unknown capability", bgp.BGPOpen(
            my_as=64512, hold_time=90, bgp_identifier="10.0.0.1", opt_param=[
                gr(flags=0, time=4095, tuples=[]),
                bgp.BGPOptParamCapabilityUnknown(cap_code=73, cap_value=b"\x07weft-gr")])),
        ("GR for two families, forwarding kept for one", bgp.BGPOpen(
            my_as=65002, hold_time=0, bgp_identifier="192.0.2.9", opt_param=[
                mp(afi=1, safi=1), mp(afi=2, safi=1),
                gr(flags=0, time=300, tuples=[(1, 1, 0x80), (2, 1, 0)])])),
    ]
    print(json.dumps([{"name": n, "hex": m.serialize().hex()} for n, m in cases]))


if __name__ == "__main__":
    if sys.argv[1] == "decode":
        decode(sys.argv[2:])
    elif sys.argv[1] == "build":
        build()
    else:
        sys.exit("usage: osken-bgp-open.py decode HEX... | build")
