// BGP-4 (RFC 4271): message codec, framing and sessions. The speaker that
// decides what to announce is controller/bgp.ts.
export * from './header';
export * from './messages';
export * from './capabilities';
export * from './update';
export * from './session';
