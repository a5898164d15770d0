"""The os-ken peer for bench/cbench.ts: an OpenFlow 1.3 MAC-learning switch.

Weft's learning app is measured against the behaviour of Ryu's well-known
simple_switch_13 sample. Debian's python3-os-ken no longer ships os-ken's
sample apps, so the bench carries this app, written for Weft:

  features reply  -> table-miss flow: priority 0, empty match,
                     apply-actions output:CONTROLLER (max_len NO_BUFFER,
                     so the whole frame comes up in the packet-in)
  packet-in       -> LLDP is left alone; the source MAC is learned against
                     in_port for that datapath; a known destination gets a
                     priority 1 flow (in_port, eth_dst, eth_src -> output)
                     and, unless the switch buffered the frame (then the
                     flow-mod carries the buffer_id and releases it), a
                     packet-out; an unknown destination is flooded.

The frame is parsed with os-ken's packet library and one INFO line is logged
per packet-in, as the sample does, so the peer spends what the sample spends
(run osken-manager with --default-log-level 30 to keep the log quiet).

Run (Debian's python3-os-ken):
  osken-manager --ofp-listen-host 127.0.0.1 --ofp-tcp-listen-port 6653 \\
      bench/osken-simple-switch-13.py
"""

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import ether_types, ethernet, packet
from os_ken.ofproto import ofproto_v1_3


class SimpleSwitch13(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # datapath id -> {MAC: port it was last seen on}
        self.mac_to_port = {}

    @staticmethod
    def add_flow(datapath, priority, match, actions, buffer_id=None):
        ofp = datapath.ofproto
        parser = datapath.ofproto_parser
        instructions = [parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions)]
        # buffer_id defaults to OFP_NO_BUFFER in os-ken's OFPFlowMod
        extra = {} if buffer_id is None else {'buffer_id': buffer_id}
        datapath.send_msg(parser.OFPFlowMod(datapath=datapath, priority=priority, match=match,
                                            instructions=instructions, **extra))

    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    def switch_features(self, ev):
        datapath = ev.msg.datapath
        ofp = datapath.ofproto
        parser = datapath.ofproto_parser
        to_controller = parser.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER)
        self.add_flow(datapath, 0, parser.OFPMatch(), [to_controller])

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def packet_in(self, ev):
        msg = ev.msg
        datapath = msg.datapath
        ofp = datapath.ofproto
        parser = datapath.ofproto_parser
        in_port = msg.match['in_port']

        eth = packet.Packet(msg.data).get_protocols(ethernet.ethernet)[0]
        if eth.ethertype == ether_types.ETH_TYPE_LLDP:
            return  # topology probes are not traffic to learn from or forward

        ports = self.mac_to_port.setdefault(datapath.id, {})
        self.logger.info('packet in %016x %s %s %s', datapath.id, eth.src, eth.dst, in_port)
        ports[eth.src] = in_port

        out_port = ports.get(eth.dst, ofp.OFPP_FLOOD)
        actions = [parser.OFPActionOutput(out_port)]

        if out_port != ofp.OFPP_FLOOD:
            match = parser.OFPMatch(in_port=in_port, eth_dst=eth.dst, eth_src=eth.src)
            if msg.buffer_id != ofp.OFP_NO_BUFFER:
                # the flow-mod releases the buffered frame through the new flow
                self.add_flow(datapath, 1, match, actions, msg.buffer_id)
                return
            self.add_flow(datapath, 1, match, actions)

        data = msg.data if msg.buffer_id == ofp.OFP_NO_BUFFER else None
        datapath.send_msg(parser.OFPPacketOut(datapath=datapath, buffer_id=msg.buffer_id, in_port=in_port,
                                              actions=actions, data=data))
