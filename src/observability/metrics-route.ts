/**
 * GET /metrics: Prometheus text, served only when METRICS_TOKEN is set (404 otherwise) and only to
 * `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise). Mounted before the dashboard: no
 * session, no CSRF, no cookies.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { type Request, type Response, Router } from 'express';
import { AppError } from '../errors';
import { apiErrorBody } from '../http/error-handler';
import type { KeywardMetrics } from './metrics';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** SHA-256 of a token: compared digests have equal lengths, so the comparison is constant-time whatever was sent. */
function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** GET /metrics for `metrics` (null: off, 404), answered to the bearer of `config.token` only. */
export function metricsRouter(metrics: KeywardMetrics | null, config: { token: string } | null): Router {
  const router = Router();
  const expected = config ? digest(config.token) : null;

  router.get('/metrics', async (req: Request, res: Response) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (!metrics || !expected) {
      res.status(404).json(apiErrorBody(new AppError({ status: 404, code: 'not_found', message: 'No such route.' })));
      return;
    }
    const presented = BEARER.exec(req.headers.authorization ?? '')?.[1];
    if (!presented || !timingSafeEqual(digest(presented), expected)) {
      res.setHeader('WWW-Authenticate', presented ? 'Bearer realm="keyward-metrics", error="invalid_token"' : 'Bearer realm="keyward-metrics"');
      const code = presented ? 'invalid_metrics_token' : 'missing_metrics_token';
      const message = presented ? 'The metrics token is not valid.' : 'Send the metrics token as "Authorization: Bearer <METRICS_TOKEN>".';
      res.status(401).json(apiErrorBody(new AppError({ status: 401, code, message })));
      return;
    }
    const body = await metrics.registry.metrics();
    res.setHeader('Content-Type', metrics.registry.contentType);
    res.send(body);
  });
  return router;
}
