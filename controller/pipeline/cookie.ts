// Cookies: | round (16) | category (8) | reserved (8) | object id (32) |.
// One delete with mask ROUND_MASK removes a stale generation after a restart.
export const ROUND_SHIFT = 48n;
export const ROUND_MASK = 0xffffn << ROUND_SHIFT;
export const CATEGORY = { pipeline: 1, network: 2, endpoint: 3, trace: 4, probe: 5, policy: 6, service: 7 } as const;
/** A live trace's observation flows: category trace, object id = trace tag (8 bits) << 24 | flow index (24 bits); never a reconciler round. */
export const TRACE_TAG_MASK = (0xffn << 40n) | (0xffn << 24n);
export type Category = keyof typeof CATEGORY;
export interface Owner { category: Category; id: number }

export function cookie(round: number, category: Category, objectId: number): bigint {
  return (BigInt(round & 0xffff) << ROUND_SHIFT) | (BigInt(CATEGORY[category]) << 40n) | BigInt(objectId >>> 0);
}
export const roundOf = (c: bigint): number => Number(c >> ROUND_SHIFT);
export const categoryOf = (c: bigint): number => Number((c >> 40n) & 0xffn);
export const objectIdOf = (c: bigint): number => Number(c & 0xffffffffn);

/** 32-bit FNV-1a of a string: the object id in flow cookies. */
export function objectId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}
