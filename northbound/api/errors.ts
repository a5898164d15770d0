// One error catalogue and one error handler for the northbound API.
import type { FastifyError, FastifyInstance } from 'fastify';

import { WeftError, isStoreFault, storeUnavailable } from '../../controller/errors';

export { WeftError as ApiError, notFound, badRequest, conflict, unavailable, unauthorized, forbidden, storeUnavailable } from '../../controller/errors';

export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | WeftError, req, reply) => {
    // a damaged database file is not the request's fault, and not a bug: 503 store_unavailable, never 500
    if (isStoreFault(err)) {
      req.log.error({ err }, 'store fault');
      err = storeUnavailable(`${(err as unknown as { code: string }).code}: ${err.message}`);
    }
    if (err instanceof WeftError) {
      return reply.status(err.status).send({ error: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const v = fe.validation[0];
      const field = (v?.instancePath || '').replace(/^\//, '').replace(/\//g, '.') || (v?.params as { missingProperty?: string })?.missingProperty;
      return reply.status(400).send({ error: 'bad_request', message: `${fe.validationContext ?? 'request'}${v?.instancePath ?? ''} ${v?.message ?? fe.message}`, ...(field ? { field } : {}) });
    }
    if (fe.statusCode && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: fe.code ?? 'bad_request', message: fe.message });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: 'internal', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) => {
    reply.status(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` });
  });
}
