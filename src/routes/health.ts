import { Router } from 'express';
import type { Database } from '../data/database';

/** GET /healthz: 200 when the database answers, else 503 `database_unavailable`. */
export function healthRouter(database: Database): Router {
  const router = Router();
  router.get('/healthz', async (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    try {
      await database.ping();
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({
        status: 'unavailable',
        error: {
          code: 'database_unavailable',
          message: 'The database does not answer.',
          type: 'server_error',
        },
      });
    }
  });
  return router;
}
