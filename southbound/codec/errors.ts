// Typed decode errors (OpenFlow 1.3.5 §7.4.4). Each carries the OFPT_ERROR
// type/code that the channel answers the switch with, instead of crashing.

export const OFPET_HELLO_FAILED = 0;
export const OFPET_BAD_REQUEST = 1;
export const OFPET_BAD_ACTION = 2;
export const OFPET_BAD_INSTRUCTION = 3;
export const OFPET_BAD_MATCH = 4;
export const OFPET_FLOW_MOD_FAILED = 5;
export const OFPET_GROUP_MOD_FAILED = 6;
export const OFPET_PORT_MOD_FAILED = 7;
export const OFPET_TABLE_MOD_FAILED = 8;
export const OFPET_QUEUE_OP_FAILED = 9;
export const OFPET_SWITCH_CONFIG_FAILED = 10;
export const OFPET_ROLE_REQUEST_FAILED = 11;
export const OFPET_METER_MOD_FAILED = 12;
export const OFPET_TABLE_FEATURES_FAILED = 13;
export const OFPET_EXPERIMENTER = 0xffff;

export const OFPHFC_INCOMPATIBLE = 0;
export const OFPBRC_BAD_VERSION = 0;
export const OFPBRC_BAD_TYPE = 1;
export const OFPBRC_BAD_MULTIPART = 2;
export const OFPBRC_BAD_EXPERIMENTER = 3;
export const OFPBRC_BAD_EXP_TYPE = 4;
export const OFPBRC_BAD_LEN = 6;
export const OFPBAC_BAD_TYPE = 0;
export const OFPBAC_BAD_LEN = 1;
export const OFPBAC_BAD_EXPERIMENTER = 2;
export const OFPBAC_BAD_EXP_TYPE = 3;
export const OFPBAC_BAD_ARGUMENT = 5;
export const OFPBIC_UNKNOWN_INST = 0;
export const OFPBIC_BAD_LEN = 6;
export const OFPBMC_BAD_TYPE = 0;
export const OFPBMC_BAD_LEN = 1;
export const OFPBMC_BAD_FIELD = 6;
export const OFPBMC_BAD_VALUE = 7;

/** Raised by every decoder on malformed input. */
export class OfDecodeError extends Error {
  override readonly name = 'OfDecodeError';
  constructor(
    message: string,
    /** OFPET_* to answer with. */
    readonly errType: number = OFPET_BAD_REQUEST,
    /** code within errType. */
    readonly errCode: number = OFPBRC_BAD_LEN,
  ) {
    super(message);
  }
}

/** Raised by encoders when a message object cannot be represented on the wire. */
export class OfEncodeError extends Error {
  override readonly name = 'OfEncodeError';
}

export function badLen(what: string, errType = OFPET_BAD_REQUEST, errCode = OFPBRC_BAD_LEN): OfDecodeError {
  return new OfDecodeError(`${what}: bad length`, errType, errCode);
}
