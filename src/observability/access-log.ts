/**
 * The access log: one line per request on the app's logger, written when the response ends or
 * the client leaves ("request aborted"):
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
import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
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

/** Whether a request's line is debug: machine polling (its path as Express matches it, any case). */
function polled(path: string): boolean {
  return POLLED.has(path.toLowerCase());
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

/**
 * The access-log middleware; mount it first (after request ids), before the routers. The line is
 * written from the response's `close` (completed or aborted alike), by a listener registered
 * before any guard's, so a verdict the guard reports after the line is not kept. Written here
 * rather than through pino-http, which made two child loggers per request (one serializing the
 * request into its bindings) for a line that carries neither: about 8 % of a guarded request's CPU.
 */
export function accessLog(options: { logger: Logger; verdicts: GuardVerdicts }): RequestHandler {
  const { logger, verdicts } = options;
  return function accessLogMiddleware(req: Request, res: Response, next: NextFunction): void {
    const started = Date.now();
    verdicts.begin(req.id);
    res.once('close', () => {
      const verdict = verdictOf(req, res, verdicts);
      const path = urlPath(req.originalUrl);
      const line = {
        requestId: req.id,
        method: req.method,
        route: routeOf(req),
        path,
        status: answeredStatus(res),
        keyId: verdict?.keyId ?? null,
        outcome: verdict?.outcome ?? null,
        latencyMs: Date.now() - started,
      };
      const message = res.writableFinished ? 'request completed' : 'request aborted';
      if (polled(path)) logger.debug(line, message);
      else logger.info(line, message);
      verdicts.end(req.id);
    });
    next();
  };
}
