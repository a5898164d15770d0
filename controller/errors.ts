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
