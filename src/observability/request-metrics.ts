import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { answeredStatus } from './access-log';
import type { KeywardMetrics } from './metrics';
import { routeOf } from './route-pattern';

/** Counts every request and times it, by route pattern, method and status, when its response closes. */
export function requestMetrics(metrics: KeywardMetrics): RequestHandler {
  return function requestMetricsMiddleware(req: Request, res: Response, next: NextFunction): void {
    const started = performance.now();
    res.once('close', () => metrics.requestEnded(routeOf(req), req.method, answeredStatus(res), (performance.now() - started) / 1000));
    next();
  };
}
