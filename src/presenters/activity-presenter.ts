/**
 * What leaves the server about a key's requests and a tenant's usage: the request log, client
 * addresses and tenant-wide usage, as JSON (zod schemas, also used by the OpenAPI document) and as
 * CSV tables. Costs are cents with micro-cent precision, never rounded to whole cents.
 */
import { z } from 'zod';
import type { CsvTable } from '../http/csv-response';
import { microCentsToCents, REQUEST_OUTCOMES } from '@keyward/guard';
import type { ClientAddress, RequestLogEntry, RequestLogPage } from '../usage/request-activity';
import { USAGE_GROUPS, type TenantUsageRow, type UsageGroupBy } from '../usage/tenant-usage';
import { outcomeCountsSchema } from './usage-presenter';

const datetime = () => z.iso.datetime({ offset: true });

/** One request of a key's log (never the key or a body). */
export const requestLogEntrySchema = z.object({
  at: datetime().describe('When the request ended.'),
  outcome: z.enum(REQUEST_OUTCOMES).describe('`ok`, `failed`, `client_closed`, or the refusal code.'),
  status: z.number().int().describe('The HTTP status answered (0 when the client left before any answer).'),
  ip: z.string(),
  model: z.string().nullable(),
  chatbot: z.string().nullable(),
  tokens: z.number().int(),
  costCents: z.number(),
  latencyMs: z.number().int(),
  requestId: z.string().nullable(),
});

/** GET /keys/{id}/requests: a page, newest first, and where the next one starts. */
export const requestLogPageSchema = z.object({
  data: z.array(requestLogEntrySchema).describe('Newest first.'),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next (older) page; null on the last page.'),
});

/** GET /keys/{id}/ips. */
export const clientAddressListSchema = z.object({
  data: z
    .array(z.object({ ip: z.string(), firstSeenAt: datetime(), lastSeenAt: datetime(), requests: z.number().int() }))
    .describe('Most recently seen first; at most 100.'),
});

/** GET /usage: the range asked for and its rows. */
export const tenantUsageSchema = z.object({
  from: z.iso.date(),
  to: z.iso.date(),
  groupBy: z.enum(USAGE_GROUPS),
  data: z
    .array(
      z.object({
        date: z.iso.date().optional().describe('groupBy=day: the UTC day.'),
        keyId: z.string().optional().describe('groupBy=key.'),
        keyName: z.string().nullable().optional().describe('groupBy=key: null when the key was deleted.'),
        model: z.string().optional().describe('groupBy=model.'),
        requests: z.number().int().describe('Every request in the row, refusals included (groupBy=model: admitted requests only).'),
        outcomes: outcomeCountsSchema,
        tokens: z.number().int(),
        costCents: z.number(),
      }),
    )
    .describe('groupBy=day: every day of the range, oldest first; key and model: those with requests, most first (at most 10,000).'),
});

const presentEntry = (row: RequestLogEntry) => ({
  at: row.at.toISOString(),
  outcome: row.outcome as (typeof REQUEST_OUTCOMES)[number],
  status: row.status,
  ip: row.ip,
  model: row.model,
  chatbot: row.chatbot,
  tokens: row.tokens,
  costCents: microCentsToCents(row.costMicroCents),
  latencyMs: row.latencyMs,
  requestId: row.requestId,
});

/** A request-log page as the API answers it. */
export function presentRequestLogPage(page: RequestLogPage): z.infer<typeof requestLogPageSchema> {
  return { data: page.rows.map(presentEntry), nextCursor: page.nextCursor };
}

/** The request log as CSV: the JSON fields, then the user agent. */
export function requestLogCsv(rows: RequestLogEntry[]): CsvTable {
  const header = [...Object.keys(requestLogEntrySchema.shape), 'userAgent'];
  return { header, rows: rows.map((row) => [...Object.values(presentEntry(row)), row.userAgent]) };
}

/** A key's client addresses as the API answers them. */
export function presentClientAddresses(addresses: ClientAddress[]): z.infer<typeof clientAddressListSchema> {
  return {
    data: addresses.map((a) => ({ ip: a.ip, firstSeenAt: a.firstSeenAt.toISOString(), lastSeenAt: a.lastSeenAt.toISOString(), requests: a.requests })),
  };
}

/** GET /usage's answer: the range and grouping, and the rows. */
export type TenantUsageJson = z.infer<typeof tenantUsageSchema>;

/** One tenant usage row as the API answers it (only the fields of the grouping). */
export const presentUsageRow = (row: TenantUsageRow): TenantUsageJson['data'][number] => ({
  ...(row.date !== undefined ? { date: row.date } : {}),
  ...(row.keyId !== undefined ? { keyId: row.keyId, keyName: row.keyName ?? null } : {}),
  ...(row.model !== undefined ? { model: row.model } : {}),
  requests: row.requests,
  outcomes: { ...row.outcomes },
  tokens: row.tokens,
  costCents: microCentsToCents(row.spendMicroCents),
});

/** Tenant usage as CSV: what the row groups, requests, one column per outcome code, tokens, cost. */
export function tenantUsageCsv(groupBy: UsageGroupBy, rows: TenantUsageRow[]): CsvTable {
  const group = { day: ['date'], key: ['keyId', 'keyName'], model: ['model'] }[groupBy];
  const header = [...group, 'requests', ...REQUEST_OUTCOMES, 'tokens', 'costCents'];
  return {
    header,
    rows: rows.map((row) => {
      const groupCells = groupBy === 'day' ? [row.date] : groupBy === 'key' ? [row.keyId, row.keyName ?? null] : [row.model];
      return [...groupCells, row.requests, ...REQUEST_OUTCOMES.map((o) => row.outcomes[o]), row.tokens, microCentsToCents(row.spendMicroCents)];
    }),
  };
}
