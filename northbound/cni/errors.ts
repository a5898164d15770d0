// CNI error results: the spec's well-known error codes and the JSON error
// object a plugin prints on stdout before exiting non-zero.
// CNI SPEC 1.0.0/1.1.0, section "Error" and "Well-known Error Codes".

/** Well-known error codes (0-99 are reserved by the spec; 100+ are plugin-specific). */
export const CniCode = {
  /** Incompatible CNI version. */
  INCOMPATIBLE_VERSION: 1,
  /** Unsupported field in network configuration (the message names it). */
  UNSUPPORTED_FIELD: 2,
  /** Container unknown or does not exist: the runtime need not call DEL. */
  UNKNOWN_CONTAINER: 3,
  /** Invalid necessary environment variables (the message names them). */
  INVALID_ENV: 4,
  /** I/O failure, e.g. reading stdin. */
  IO_FAILURE: 5,
  /** Failed to decode content, e.g. stdin is not JSON. */
  DECODING_FAILURE: 6,
  /** Invalid network configuration. */
  INVALID_CONFIG: 7,
  /** Try again later: a transient condition (here: the Weft API is unreachable or busy). */
  TRY_AGAIN_LATER: 11,
  /** STATUS (1.1.0): the plugin cannot service ADD requests. */
  PLUGIN_NOT_AVAILABLE: 50,
  /** STATUS (1.1.0): not available, and existing containers may have limited connectivity. */
  PLUGIN_NOT_AVAILABLE_LIMITED: 51,
  /** Weft's own (100+): the API refused the plugin's token (HTTP 401): missing, wrong or revoked (tokenFile). */
  UNAUTHORIZED: 101,
  /** Weft's own: the token may not do this (HTTP 403), e.g. a host token used for another host. */
  FORBIDDEN: 102,
  /** Anything else (host commands that failed, conflicts reported by the API, ...). */
  GENERIC: 999,
} as const;

/** The JSON a plugin prints on stdout for a failed command. */
export interface CniErrorJson {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** An error to report to the runtime with a specific CNI code. */
export class CniError extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly details?: string,
  ) {
    super(msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): CniErrorJson {
    return { cniVersion, code: this.code, msg: this.message, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Wraps any thrown value as a CniError (code 999 unless it already is one). */
export function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  if (e instanceof Error) return new CniError(CniCode.GENERIC, e.message);
  return new CniError(CniCode.GENERIC, String(e));
}
