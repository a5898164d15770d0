// The host-side interface name of a container attachment, chosen from the
// container id and interface name: the controller's default for an
// endpoint's portName, and what weft-cni names the veth before it asks.
// A module of its own so the plugin can use it without the controller.
import { createHash } from 'node:crypto';

export function portNameFor(containerId: string, ifName: string): string {
  return 'wf' + createHash('sha1').update(`${containerId}/${ifName}`).digest('hex').slice(0, 11);
}

/**
 * The form of every name portNameFor gives: `wf` and 11 lowercase hex
 * digits. No name OVS or Weft gives its own ports (br-int, br-phy,
 * patch-int, patch-phy, vxlan0, the plugin's temporary weft<8 hex>) has it.
 */
export const ENDPOINT_PORT_NAME = /^wf[0-9a-f]{11}$/;
export const isEndpointPortName = (name: string): boolean => ENDPOINT_PORT_NAME.test(name);
