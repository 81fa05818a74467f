/**
 * POST /api/v1/keys/verify and POST /api/v1/keys/verify/{reservationId}/settle: key verification
 * for other services (src/verify). The caller's key needs scope `keys:verify` and is counted in a
 * window of its own (VERIFY_RATE_LIMIT_PER_MINUTE), never in its /api allowance; the verified key
 * is checked exactly as /api would check it.
 */
import { type Request, type RequestHandler, Router } from 'express';
import type { KeyVerification } from '../../verify/key-verification';
import { callingKey } from './actor';

/** The routes, each behind `caller` (the guard of the calling key). */
export function verifyRouter(verification: KeyVerification, caller: RequestHandler): Router {
  const router = Router();
  router.post('/', caller, async (req, res) => {
    res.json(await verification.verify(req, callingKey(req).tenantId, req.body));
  });
  router.post('/:reservationId/settle', caller, async (req: Request<{ reservationId: string }>, res) => {
    res.json(await verification.settle(req, callingKey(req).tenantId, req.params.reservationId, req.body));
  });
  return router;
}
