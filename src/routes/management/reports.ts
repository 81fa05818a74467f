/** /api/v1/stats, /api/v1/audit-events and /api/v1/usage, for the calling key's tenant. */
import { type RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { AppContext } from '../../context';
import { listAuditEvents } from '../../data/repositories/audit-events';
import { keyStats } from '../../data/repositories/key-list';
import { validationError } from '../../errors';
import { sendCsv } from '../../http/csv-response';
import { sendJsonList, sendJsonText } from '../../http/sliced-response';
import { paginationSchema } from '../../keys/key-input';
import { dayStart } from '@keyward/guard';
import { parseInput } from '../../lib/validation';
import { presentUsageRow, tenantUsageCsv, type TenantUsageJson } from '../../presenters/activity-presenter';
import { auditEventsCsv } from '../../presenters/audit-csv';
import { presentAuditEvent } from '../../presenters/audit-presenter';
import { MAX_USAGE_RANGE_DAYS, tenantUsage, tenantUsageByKeyJson, USAGE_GROUPS } from '../../usage/tenant-usage';
import { callingKey } from './actor';
import { blankAsMissing, countField, dayField, formatField } from './query-fields';

const DAY_MS = 86_400_000;

const auditQuerySchema = paginationSchema.extend({
  action: z.string({ error: 'must be a string' }).max(100, 'must be at most 100 characters').optional(),
  keyId: z.string({ error: 'must be a string' }).max(64, 'must be at most 64 characters').optional(),
  format: formatField,
});
/** A CSV export takes up to 10,000 events a page (default: all of them up to that). */
const auditExportSchema = auditQuerySchema.extend({ size: countField(10_000).default(10_000) });

const usageQuerySchema = z.object({
  from: dayField,
  to: dayField,
  groupBy: z.preprocess(blankAsMissing, z.enum(USAGE_GROUPS, { error: 'must be one of day, key, model' }).default('day')),
  format: formatField,
});

/** The days asked for: `to` defaults to today (UTC), `from` to 29 days before `to`. */
function usageRange(query: { from?: number; to?: number }): { from: number; to: number } {
  const to = query.to ?? dayStart(Date.now());
  const from = query.from ?? to - 29 * DAY_MS;
  if (to < from) throw validationError([{ field: 'to', message: 'must be on or after from (default: today)' }]);
  if ((to - from) / DAY_MS + 1 > MAX_USAGE_RANGE_DAYS) {
    throw validationError([{ field: 'from', message: `must be at most ${MAX_USAGE_RANGE_DAYS} days before to (both included)` }]);
  }
  return { from, to };
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** `guard` runs before each route (mounted beside other /v1 routers, so not router-wide). */
export function reportsRouter(ctx: AppContext, guard: RequestHandler): Router {
  const router = Router();

  router.get('/stats', guard, async (req, res) => {
    const stats = await keyStats(ctx.database, callingKey(req).tenantId);
    res.json({
      totalKeys: stats.total,
      activeKeys: stats.active,
      inactiveKeys: stats.inactive,
      revokedKeys: stats.revoked,
      expiredKeys: stats.expired,
    });
  });

  router.get('/audit-events', guard, async (req, res) => {
    const query = parseInput(req.query.format === 'csv' ? auditExportSchema : auditQuerySchema, req.query);
    const { rows, total, totalCapped } = await listAuditEvents(ctx.database, {
      tenantId: callingKey(req).tenantId,
      action: query.action || undefined,
      targetId: query.keyId || undefined,
      page: query.page,
      size: query.size,
    });
    if (query.format === 'csv') {
      await sendCsv(res, 'keyward-audit-events.csv', auditEventsCsv(rows.map(presentAuditEvent)));
      return;
    }
    res.json({ data: rows.map(presentAuditEvent), total, totalCapped, page: query.page, size: query.size });
  });

  // Tenant-wide usage over UTC days [from, to] (default: the last 30 days), by day, key or model.
  router.get('/usage', guard, async (req, res) => {
    const query = parseInput(usageQuerySchema, req.query);
    const { from, to } = usageRange(query);
    const { tenantId } = callingKey(req);
    const range: Omit<TenantUsageJson, 'data'> = { from: isoDay(from), to: isoDay(to), groupBy: query.groupBy };
    if (query.groupBy === 'key' && query.format !== 'csv') {
      // Up to 10,000 keys (4 MB of JSON) of the last 30 days: written as JSON text from the window's rows, no row objects.
      const json = await tenantUsageByKeyJson(ctx.database, tenantId, from, to);
      if (json !== null) {
        await sendJsonText(res, range, 'data', json);
        return;
      }
    }
    const rows = await tenantUsage(ctx.database, tenantId, { from, to, groupBy: query.groupBy });
    if (query.format === 'csv') {
      await sendCsv(res, `keyward-usage-${range.groupBy}-${range.from}-${range.to}.csv`, tenantUsageCsv(query.groupBy, rows));
      return;
    }
    // Up to 10,000 rows (4 MB of JSON): written a slice at a time, so the app's thread serves /api between them.
    await sendJsonList(res, range, 'data', rows, presentUsageRow);
  });

  return router;
}
