// Errors the controller's services raise for callers (the REST API maps
// them 1:1 to status codes and its JSON error body).
export class WeftError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message);
  }
}
export const notFound = (what: string, id: string) => new WeftError(404, 'not_found', `${what} ${id} not found`);
export const badRequest = (message: string, field?: string) => new WeftError(400, 'bad_request', message, field);
export const conflict = (message: string, field?: string) => new WeftError(409, 'conflict', message, field);
export const unavailable = (message: string) => new WeftError(503, 'unavailable', message);
export const unauthorized = (message: string) => new WeftError(401, 'unauthorized', message);
export const forbidden = (message: string, field?: string) => new WeftError(403, 'forbidden', message, field);
/** The database cannot be used (damaged file): 503 until an operator repairs or replaces it. */
export const storeUnavailable = (reason: string) =>
  new WeftError(503, 'store_unavailable', `the store is unavailable (${reason}); see GET /v1/health`);
/** A SQLite error that means the database file is damaged (SQLITE_CORRUPT*, SQLITE_NOTADB), not the request. */
export const isStoreFault = (e: unknown): boolean =>
  typeof (e as { code?: unknown })?.code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test((e as { code: string }).code);
