import { Router } from 'express';
import type { AppContext } from '../../context';
import { buildOpenApiDocument } from './document';

/** GET /api/openapi.json: the OpenAPI 3.1 document (no key needed). Built once. */
export function openApiRouter(ctx: AppContext): Router {
  const router = Router();
  const document = JSON.stringify(buildOpenApiDocument(ctx.config.dashboard.publicUrl));
  router.get('/openapi.json', (_req, res) => {
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type('application/json').send(document);
  });
  return router;
}
