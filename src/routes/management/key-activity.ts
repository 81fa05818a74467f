/**
 * /api/v1/keys/:id/requests and /api/v1/keys/:id/ips: what a key did request by request, and the
 * addresses it was used from. Mounted in the keys router, behind the management guard (keys:read).
 * A key of another tenant answers 404 like a missing one.
 */
import { Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { sendCsv } from '../../http/csv-response';
import { normalizeIpEntry, REQUEST_OUTCOMES } from '@keyward/guard';
import { parseInput } from '../../lib/validation';
import { presentClientAddresses, presentRequestLogPage, requestLogCsv } from '../../presenters/activity-presenter';
import { clientAddresses, decodeCursor, requestLogPage } from '../../usage/request-activity';
import { callingKey } from './actor';
import { blankAsMissing, countField, formatField, instantField } from './query-fields';

/** Rows per JSON page at most; a CSV export may take this many at once. */
const MAX_PAGE = 100;
const MAX_EXPORT = 10_000;

const requestLogQuerySchema = z
  .object({
    format: formatField,
    limit: z.preprocess(blankAsMissing, countField(MAX_EXPORT).optional()),
    cursor: z.preprocess(
      blankAsMissing,
      z
        .string({ error: 'must be the nextCursor of a previous page' })
        .transform((text, ctx) => {
          const cursor = decodeCursor(text);
          if (!cursor) ctx.addIssue({ code: 'custom', message: 'must be the nextCursor of a previous page' });
          return cursor ?? undefined;
        })
        .optional(),
    ),
    outcome: z.preprocess(blankAsMissing, z.enum(REQUEST_OUTCOMES, { error: `must be one of ${REQUEST_OUTCOMES.join(', ')}` }).optional()),
    ip: z.preprocess(
      blankAsMissing,
      z
        .string({ error: 'must be an IP address' })
        .transform((text, ctx) => {
          const ip = text.includes('/') ? null : normalizeIpEntry(text);
          if (!ip) ctx.addIssue({ code: 'custom', message: 'must be an IP address' });
          return ip ?? undefined;
        })
        .optional(),
    ),
    from: instantField,
    to: instantField,
  })
  .superRefine((query, ctx) => {
    if (query.format === 'json' && query.limit !== undefined && query.limit > MAX_PAGE) {
      ctx.addIssue({ code: 'custom', path: ['limit'], message: `must be at most ${MAX_PAGE}` });
    }
    if (query.from && query.to && query.to <= query.from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after from' });
  });

/** The request-log and client-address routes of one key (mounted inside the keys router). */
export function keyActivityRouter(ctx: AppContext): Router {
  const router = Router();
  const db = ctx.database.prisma;

  // Newest first; filters: outcome, client address, time range [from, to); an opaque cursor pages on.
  router.get('/:id/requests', async (req, res) => {
    const query = parseInput(requestLogQuerySchema, req.query);
    const key = await ctx.keys.get(callingKey(req).tenantId, req.params.id);
    const csv = query.format === 'csv';
    const page = await requestLogPage(db, key.tenantId, key.id, {
      limit: query.limit ?? (csv ? MAX_EXPORT : 50),
      cursor: query.cursor,
      outcome: query.outcome,
      ip: query.ip,
      from: query.from,
      to: query.to,
    });
    if (!csv) {
      res.json(presentRequestLogPage(page));
      return;
    }
    // An export of more than MAX_EXPORT rows continues from this cursor.
    if (page.nextCursor) res.setHeader('X-Next-Cursor', page.nextCursor);
    await sendCsv(res, `keyward-requests-${key.id}.csv`, requestLogCsv(page.rows));
  });

  router.get('/:id/ips', async (req, res) => {
    const key = await ctx.keys.get(callingKey(req).tenantId, req.params.id);
    res.json(presentClientAddresses(await clientAddresses(db, key.tenantId, key.id)));
  });

  return router;
}
