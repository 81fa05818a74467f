/**
 * The access log: one line per request on the app's logger (pino-http), written when the response
 * ends or the client leaves:
 *
 *   {"level":30,"time":…,"app":"keyward","requestId":"…","method":"POST","route":"/api/v1/chat/completions",
 *    "path":"/api/v1/chat/completions","status":429,"keyId":"AbCd1234EfGh","outcome":"rate_limited",
 *    "latencyMs":2,"msg":"request completed"}
 *
 * Never a secret: no headers, cookies, query string or body, only the path. `keyId` and `outcome`
 * are the guard's (null when no guard identified a key). Level info, 5xx included: the access log
 * is a record of traffic; failures that need attention are logged by the error handler (at most
 * once per kind every 10 s during an outage), so LOG_LEVEL=warn stays quiet and readable.
 * /healthz and /metrics are logged at debug: a load balancer and Prometheus call them every few
 * seconds, which would bury the traffic in lines that say nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { pinoHttp } from 'pino-http';
import { type Logger, urlPath } from '../logger';
import { clientLeft } from '@keyward/guard';
import type { GuardVerdict, GuardVerdicts } from './guard-verdicts';
import { routeOf } from './route-pattern';

/** Paths polled by machines: their lines are at debug. */
const POLLED = new Set(['/healthz', '/metrics']);

/** The status answered, or 0 when the client left before any answer (as the guard reports it). */
export function answeredStatus(res: ServerResponse): number {
  return res.headersSent ? res.statusCode : 0;
}

/** Whether a request's line is debug: machine polling (the path as Express matches it, any case). */
function polled(req: IncomingMessage & { originalUrl?: string }): boolean {
  return POLLED.has(urlPath(req.originalUrl ?? req.url).toLowerCase());
}

/**
 * The guard's verdict: an admitted request's key is `req.apiKey`, and its outcome follows from the
 * response exactly as the guard settles it; a refusal was noted by the recorder's tee.
 */
function verdictOf(req: Request, res: Response, verdicts: GuardVerdicts): GuardVerdict | null {
  if (req.apiKey) {
    const outcome = clientLeft(res) ? 'client_closed' : res.statusCode < 400 ? 'ok' : 'failed';
    return { keyId: req.apiKey.id, outcome };
  }
  return verdicts.get(req.id);
}

/** The access-log middleware; mount it first (after request ids), before the routers. */
export function accessLog(options: { logger: Logger; verdicts: GuardVerdicts }): RequestHandler {
  const { verdicts } = options;
  const line = (req: Request, res: Response, latencyMs: number) => {
    const verdict = verdictOf(req, res, verdicts);
    return {
      requestId: req.id,
      method: req.method,
      route: routeOf(req),
      path: urlPath(req.originalUrl),
      status: answeredStatus(res),
      keyId: verdict?.keyId ?? null,
      outcome: verdict?.outcome ?? null,
      latencyMs,
    };
  };
  const message = (_req: IncomingMessage, res: ServerResponse) => (res.writableFinished ? 'request completed' : 'request aborted');
  const http = pinoHttp<Request, Response>({
    logger: options.logger,
    genReqId: (req) => req.id,
    // The logger's own serializers (id, method, path; status) instead of pino-http's, which
    // include headers and the query string.
    wrapSerializers: false,
    // The line carries the fields below, not pino-http's `req`/`res` objects.
    quietResLogger: true,
    customLogLevel: (req) => (polled(req) ? 'debug' : 'info'),
    customSuccessMessage: message,
    customErrorMessage: message,
    customSuccessObject: (req, res, value: { responseTime: number }) => line(req, res, value.responseTime),
    // 5xx answers: the same line (pino-http would add an error made up from the status).
    customErrorObject: (req, res, _error, value: { responseTime: number }) => line(req, res, value.responseTime),
  });

  return function accessLogMiddleware(req: Request, res: Response, next: NextFunction): void {
    verdicts.begin(req.id);
    http(req, res);
    // After pino-http's own listeners (its line is written first) and before the guard's: a
    // verdict the guard reports after the line is not kept.
    res.once('close', () => verdicts.end(req.id));
    next();
  };
}
