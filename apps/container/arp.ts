// ARP answered by flows: a request is turned into its reply and sent back
// out of its in_port.
import { Action, OFPP_IN_PORT } from '../../southbound/codec';
import { derivedMac, REG, ARP_OP } from '../../controller/pipeline';
import { setField, move, output } from './context';

/**
 * The answering MAC is `mac`, or derived from the asked address when `mac`
 * is the network's derived prefix and `deriveLow32` is set (the asked
 * address becomes its low 32 bits). The answering address is `ip`, or —
 * without one — the asked address itself (swapped through the scratch register).
 */
function arpAnswer(mac: string, ip?: string, deriveLow32 = false): Action[] {
  const a: Action[] = [move('eth_src', 'eth_dst', 48), setField('eth_src', mac)];
  if (deriveLow32) a.push(move('arp_tpa', 'eth_src', 32));
  a.push(setField('arp_op', ARP_OP.reply), move('arp_sha', 'arp_tha', 48));
  a.push(deriveLow32 ? move('eth_src', 'arp_sha', 48) : setField('arp_sha', mac));
  if (ip !== undefined) a.push(move('arp_spa', 'arp_tpa', 32), setField('arp_spa', ip));
  else a.push(move('arp_tpa', REG.scratch, 32), move('arp_spa', 'arp_tpa', 32), move(REG.scratch, 'arp_spa', 32));
  a.push(output(OFPP_IN_PORT));
  return a;
}

/** The reply for a known (mac, ip). */
export const arpReply = (mac: string, ip: string): Action[] => arpAnswer(mac, ip);
/** The reply for any address of a network, with the MAC derived from the asked address. */
export const derivedArpReply = (networkId: number): Action[] => arpAnswer(derivedMac(networkId, '0.0.0.0'), undefined, true);
/** Proxy ARP: one MAC for whatever address was asked (the gateway answers for a routed CIDR). */
export const proxyArpReply = (mac: string): Action[] => arpAnswer(mac);
