/**
 * GET /unknown-keys, for platform admins only (everyone else gets 404): the client addresses that
 * presented API keys naming no key (malformed, bad checksum, unknown id) or were refused as
 * blocked guessers, over the last 7 or 30 UTC days, most attempts first.
 */
import { Router } from 'express';
import { z } from 'zod';
import { ADDRESS_RETENTION_DAYS } from '../../usage/retention';
import { unknownKeyAttempts } from '../../usage/request-activity';
import { requirePlatformAdmin } from '../policy';
import { requireSignIn } from '../viewer';
import type { DashboardDeps } from './deps';

/** The periods the page offers (UTC days, today included). */
const PERIODS = [7, 30] as const;
/** Addresses listed at most. */
const LIMIT = 100;

const querySchema = z.object({ days: z.coerce.number().pipe(z.union([z.literal(7), z.literal(30)])).catch(7) });

/** GET /unknown-keys. */
export function unknownKeyRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();

  router.get('/unknown-keys', requireSignIn(), requirePlatformAdmin(), async (req, res) => {
    const { days } = querySchema.parse(req.query);
    const rows = await unknownKeyAttempts(ctx.database.prisma, { days, limit: LIMIT, now: ctx.dashboard.clock().getTime() });
    pages.send(req, res, 'unknown-keys', {
      title: 'Unknown-key attempts',
      rows,
      days,
      periods: PERIODS,
      limit: LIMIT,
      retentionDays: ADDRESS_RETENTION_DAYS,
    });
  });

  return router;
}
