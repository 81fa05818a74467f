/**
 * createApp() wires the HTTP app in one visible order: settings, X-Forwarded-For cleaned of
 * entries that are not addresses, request ids, what operators see (route patterns, the access log
 * at LOG_LEVEL=info or lower, request metrics when METRICS_TOKEN is set), routers (/metrics, health,
 * /api, then the dashboard at "/" with its helmet, assets, sessions and CSRF), then the not-found
 * and error handlers: JSON for /api, the dashboard's error page for everything else. It does not
 * listen; server.ts does, and tests use supertest.
 */
import express, { type Express } from 'express';
import type { AppContext } from './context';
import { createDashboard } from './dashboard/dashboard-router';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { forwardedForCleanup } from './http/forwarded';
import { requestId } from './http/request-id';
import { accessLog } from './observability/access-log';
import { guardObservers } from './observability/guard-observers';
import { GuardVerdicts } from './observability/guard-verdicts';
import { metricsRouter } from './observability/metrics-route';
import { requestMetrics } from './observability/request-metrics';
import { routePatterns } from './observability/route-pattern';
import { apiRouter } from './routes/api';
import { healthRouter } from './routes/health';

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag from res.send: /api answers are no-store and pages carry a fresh CSRF token, so it
  // never matched; it was a SHA-1 of every body (a new secret's included) on every answer.
  app.set('etag', false);
  app.set('trust proxy', ctx.config.trustProxy);

  app.use(forwardedForCleanup(ctx.config.trustProxy)); // before anything reads req.ip
  app.use(requestId());
  // The access log's lines are info (polling at debug): below that level it is not mounted at all.
  const verdicts = ctx.logger.isLevelEnabled('info') ? new GuardVerdicts() : null;
  if (verdicts || ctx.metrics) app.use(routePatterns());
  if (verdicts) app.use(accessLog({ logger: ctx.logger, verdicts }));
  if (ctx.metrics) app.use(requestMetrics(ctx.metrics));
  app.use(metricsRouter(ctx.metrics, ctx.config.metrics));
  app.use(healthRouter(ctx.health));
  app.use('/api', apiRouter(ctx, guardObservers({ metrics: ctx.metrics, verdicts })));
  const dashboard = createDashboard(ctx);
  app.use(dashboard.router);

  app.use(notFoundHandler());
  app.use(errorHandler({ logger: ctx.logger, renderPage: (req, error) => dashboard.pages.errorPage(req, error) }));
  return app;
}
