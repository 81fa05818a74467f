/**
 * What a key did, for people: GET /keys/:id/requests (the request log, newest first, filtered by
 * outcome, client address and UTC days, paged by an opaque cursor), and its CSV exports,
 * GET /keys/:id/requests.csv (the rows the filters select, up to 10,000) and
 * GET /keys/:id/usage.csv (one row per UTC day of the last 30: requests by outcome, tokens,
 * spend). Same access rules as the key page (a key the person may not see answers 404); the CSVs
 * are spreadsheet-safe and never stored (sendCsv).
 */
import { Router } from 'express';
import { z } from 'zod';
import { DEFAULT_USAGE_FOLD } from '../../config';
import { sendCsv } from '../../http/csv-response';
import { normalizeIpEntry, REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import { requestLogCsv, tenantUsageCsv } from '../../presenters/activity-presenter';
import { decodeCursor, type RequestLogEntry, type RequestLogFilters, requestLogPage } from '../../usage/request-activity';
import type { TenantUsageRow } from '../../usage/tenant-usage';
import { type KeyUsageReport, keyUsageReport } from '../../usage/usage-report';
import { href } from '../links';
import { OUTCOME_CHOICES, outcomeLabel } from '../outcomes';
import { visibleKey } from '../policy';
import { requireTenant } from '../require-tenant';
import { requireSignIn } from '../viewer';
import type { DashboardDeps } from './deps';

const PAGE_SIZE = 50;
const MAX_EXPORT = 10_000;
const DAY_MS = 86_400_000;

const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** A real calendar day (2026-02-30 parses, as March 2nd, and is refused). */
function isCalendarDay(text: string): boolean {
  const ms = Date.parse(`${text}T00:00:00Z`);
  return DAY.test(text) && !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === text;
}

const day = z.string().refine(isCalendarDay).optional().catch(undefined);

// Filters of a page people build by hand: what does not parse is dropped, except a mistyped
// address, which the form reports (an empty log would hide the typo).
const logQuerySchema = z.object({
  outcome: z.enum(REQUEST_OUTCOMES).optional().catch(undefined),
  ip: z.string().trim().max(100).optional().catch(undefined),
  from: day,
  to: day,
  cursor: z.string().max(100).optional().catch(undefined),
});

type LogQuery = z.infer<typeof logQuerySchema>;

/** The filters of a query, the address normalised, and the message when it is not an address. */
function logFilters(query: LogQuery, limit: number): { filters: RequestLogFilters; ipError: string | null } {
  const ip = query.ip ? (query.ip.includes('/') ? null : normalizeIpEntry(query.ip)) : undefined;
  return {
    ipError: ip === null ? 'is not an IP address: type one address, e.g. 203.0.113.7 or 2001:db8::1' : null,
    filters: {
      limit,
      outcome: query.outcome as RequestOutcome | undefined,
      ip: ip ?? undefined,
      from: query.from ? new Date(`${query.from}T00:00:00Z`) : undefined,
      to: query.to ? new Date(Date.parse(`${query.to}T00:00:00Z`) + DAY_MS) : undefined,
    },
  };
}

/** A log row as the table shows it. */
function logRow(row: RequestLogEntry) {
  const admitted = row.outcome === 'ok' || row.outcome === 'failed' || row.outcome === 'client_closed';
  return {
    ...row,
    outcomeLabel: outcomeLabel(row.outcome),
    tone: row.outcome === 'ok' ? 'ok' : admitted ? 'failed' : 'refused',
  };
}

/** A key's last 30 days as daily usage rows (the CSV of GET /api/v1/usage?groupBy=day, for one key). */
function keyDailyRows(report: KeyUsageReport): TenantUsageRow[] {
  return report.outcomes.daily.map((point, i) => ({
    date: point.start.toISOString().slice(0, 10),
    requests: point.requests,
    outcomes: point.outcomes,
    tokens: report.daily[i]?.tokens ?? 0,
    spendMicroCents: report.daily[i]?.spendMicroCents ?? 0,
  }));
}

/** GET /keys/:id/requests, /keys/:id/requests.csv and /keys/:id/usage.csv. */
export function keyActivityRoutes({ ctx, pages }: DashboardDeps): Router {
  const router = Router();
  const signedIn = requireSignIn();
  const db = ctx.database.prisma;

  router.get('/keys/:id/requests', signedIn, requireTenant(pages), async (req, res) => {
    const key = await visibleKey(ctx, req, req.params.id as string);
    const query = logQuerySchema.parse(req.query);
    const cursor = query.cursor ? decodeCursor(query.cursor) : null;
    const { filters, ipError } = logFilters(query, PAGE_SIZE);
    const page = ipError ? { rows: [], nextCursor: null } : await requestLogPage(db, key.tenantId, key.id, { ...filters, cursor: cursor ?? undefined });
    const kept = { outcome: query.outcome, ip: query.ip, from: query.from, to: query.to };
    const base = `/keys/${key.id}/requests`;
    pages.send(req, res, 'keys/requests', {
      title: `Request log · ${key.name}`,
      key,
      query,
      rows: page.rows.map(logRow),
      choices: OUTCOME_CHOICES,
      errors: ipError ? { ip: ipError } : {},
      filtered: Boolean(query.outcome || query.ip || query.from || query.to),
      paged: Boolean(cursor),
      newest: href(base, kept),
      older: page.nextCursor ? href(base, { ...kept, cursor: page.nextCursor }) : null,
      csv: href(`${base}.csv`, kept),
      pageSize: PAGE_SIZE,
      maxExport: MAX_EXPORT,
      retentionDays: ctx.config.requestLog.retentionDays,
      // Under many keys a second a request is logged when its usage is folded (usage/usage-journal.ts).
      foldSeconds: Math.ceil((ctx.config.api.usageFold ?? DEFAULT_USAGE_FOLD).intervalMs / 1000),
    });
  });

  router.get('/keys/:id/requests.csv', signedIn, requireTenant(pages), async (req, res) => {
    const key = await visibleKey(ctx, req, req.params.id as string);
    const { filters, ipError } = logFilters(logQuerySchema.parse(req.query), MAX_EXPORT);
    const page = ipError ? { rows: [] } : await requestLogPage(db, key.tenantId, key.id, filters);
    await sendCsv(res, `keyward-requests-${key.id}.csv`, requestLogCsv(page.rows));
  });

  router.get('/keys/:id/usage.csv', signedIn, requireTenant(pages), async (req, res) => {
    const key = await visibleKey(ctx, req, req.params.id as string);
    const report = await keyUsageReport({ database: ctx.database, limits: ctx.limits }, key, ctx.dashboard.clock().getTime());
    const rows = keyDailyRows(report);
    await sendCsv(res, `keyward-usage-${key.id}-${rows[0]?.date}-${rows[rows.length - 1]?.date}.csv`, tenantUsageCsv('day', rows));
  });

  return router;
}
