// The host-side interface name of a container attachment, chosen from the
// container id and interface name: the controller's default for an
// endpoint's portName, and what weft-cni names the veth before it asks.
// A module of its own so the plugin can use it without the controller.
import { createHash } from 'node:crypto';

export function portNameFor(containerId: string, ifName: string): string {
  return 'wf' + createHash('sha1').update(`${containerId}/${ifName}`).digest('hex').slice(0, 11);
}
