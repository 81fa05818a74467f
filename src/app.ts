/**
 * createApp() wires the HTTP app in one visible order: settings, request ids, routers, then the
 * not-found and error handlers. It does not listen; server.ts does, and tests use supertest.
 */
import express, { type Express } from 'express';
import type { AppContext } from './context';
import { errorHandler, notFoundHandler } from './http/error-handler';
import { requestId } from './http/request-id';
import { apiRouter } from './routes/api';
import { healthRouter } from './routes/health';

export function createApp(ctx: AppContext): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', ctx.config.trustProxy);

  app.use(requestId());
  app.use(healthRouter(ctx.database));
  app.use('/api', apiRouter(ctx));

  app.use(notFoundHandler());
  app.use(errorHandler({ logger: ctx.logger }));
  return app;
}
