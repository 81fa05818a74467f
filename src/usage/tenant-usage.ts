/**
 * A tenant's usage over a range of UTC days, grouped by day, key or model: every request by
 * outcome (refusals included), tokens and spend. Read from the daily rollups, so deleted keys'
 * history counts too. Shared by GET /api/v1/usage and the dashboard.
 */
import type { Database } from '../data/database';
import { chunks } from '../data/repositories/batching';
import { keysOutcomeCounts, tenantModelOutcomes, tenantOutcomesByDay, tenantTopKeys } from '../data/repositories/outcomes';
import { tenantDailyUsage } from '../data/repositories/usage';
import { windowTopKeys, windowTopKeysJson } from '../data/repositories/usage-window';
import { addOutcome, type OutcomeCounts, outcomeTotals, zeroOutcomes } from './outcome-report';

const DAY_MS = 86_400_000;

/** The longest range one call may cover (days, both ends included). */
export const MAX_USAGE_RANGE_DAYS = 366;
/** Key and model rows past this many (fewest requests) are left out. */
export const MAX_USAGE_ROWS = 10_000;

/** How GET /usage groups its rows. */
export const USAGE_GROUPS = ['day', 'key', 'model'] as const;
export type UsageGroupBy = (typeof USAGE_GROUPS)[number];

/** One row: what it groups (a day, a key or a model), its requests by outcome, tokens and spend. */
export interface TenantUsageRow {
  date?: string;
  keyId?: string;
  /** The key's name, or null when the key was deleted. */
  keyName?: string | null;
  model?: string;
  /** Every request counted in the row (by model: admitted requests only). */
  requests: number;
  outcomes: OutcomeCounts;
  tokens: number;
  spendMicroCents: number;
}

/** The days and grouping of a tenant-usage read. */
export interface TenantUsageQuery {
  /** First UTC day (00:00), inclusive. */
  from: number;
  /** Last UTC day (00:00), inclusive. */
  to: number;
  groupBy: UsageGroupBy;
}

const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function row(base: Partial<TenantUsageRow>, outcomes: OutcomeCounts, tokens: number, spendMicroCents: number): TenantUsageRow {
  return { ...base, requests: outcomeTotals(outcomes).requests, outcomes, tokens, spendMicroCents };
}

async function byDay(db: Database, tenantId: string, from: number, end: number): Promise<TenantUsageRow[]> {
  const [outcomes, usage] = await Promise.all([
    tenantOutcomesByDay(db.prisma, tenantId, new Date(from), new Date(end)),
    tenantDailyUsage(db.prisma, tenantId, new Date(from)),
  ]);
  const days = Array.from({ length: Math.round((end - from) / DAY_MS) }, (_, i) => from + i * DAY_MS);
  const counts = new Map(days.map((day) => [day, zeroOutcomes()]));
  for (const o of outcomes) {
    const day = counts.get(o.bucketStart.getTime());
    if (day) addOutcome(day, o.outcome, o.requests);
  }
  const spend = new Map(usage.map((u) => [u.bucketStart.getTime(), u]));
  return days.map((day) => row({ date: isoDay(day) }, counts.get(day) as OutcomeCounts, spend.get(day)?.tokens ?? 0, spend.get(day)?.spendMicroCents ?? 0));
}

/** Names of up to MAX_USAGE_ROWS keys: 500 a statement, off the app's thread on SQLite. */
async function keyNames(db: Database, tenantId: string, ids: string[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  for (const part of chunks(ids, 500)) {
    const rows = await db.reads.all<{ id: string; name: string }>(
      `SELECT "id", "name" FROM "api_keys" WHERE "tenantId" = ? AND "id" IN (${part.map(() => '?').join(', ')})`,
      [tenantId, ...part],
    );
    for (const key of rows) names.set(key.id, key.name);
  }
  return names;
}

async function byKey(db: Database, tenantId: string, from: number, end: number): Promise<TenantUsageRow[]> {
  // The last 30 days come from the per-key window: one statement through an index.
  const window = await windowTopKeys(db, tenantId, from, end - DAY_MS, MAX_USAGE_ROWS);
  if (window) return window;
  // Other ranges: summed from the daily rows, ranked and cut at MAX_USAGE_ROWS in the database;
  // then only those keys' outcome rows and names are read.
  const top = await tenantTopKeys(db, tenantId, new Date(from), new Date(end), MAX_USAGE_ROWS);
  const counts = new Map(top.map((t) => [t.keyId, zeroOutcomes()]));
  for (const o of await keysOutcomeCounts(db, [...counts.keys()], new Date(from), new Date(end))) {
    const c = counts.get(o.keyId);
    if (c) addOutcome(c, o.outcome, o.requests);
  }
  const rows = top.map((t) => row({ keyId: t.keyId }, counts.get(t.keyId) as OutcomeCounts, t.tokens, t.spendMicroCents));
  const names = await keyNames(db, tenantId, rows.map((r) => r.keyId as string));
  return rows.map((r) => ({ keyId: r.keyId, keyName: names.get(r.keyId as string) ?? null, ...r }));
}

async function byModel(db: Database, tenantId: string, from: number, end: number): Promise<TenantUsageRow[]> {
  const rows = await tenantModelOutcomes(db, tenantId, new Date(from), new Date(end));
  const models = new Map<string, { outcomes: OutcomeCounts; tokens: number; spend: number }>();
  for (const r of rows) {
    let m = models.get(r.model);
    if (!m) models.set(r.model, (m = { outcomes: zeroOutcomes(), tokens: 0, spend: 0 }));
    addOutcome(m.outcomes, r.outcome, r.requests);
    m.tokens += r.tokens;
    m.spend += r.spendMicroCents;
  }
  return [...models.entries()]
    .map(([model, m]) => row({ model }, m.outcomes, m.tokens, m.spend))
    .sort((a, b) => b.requests - a.requests || b.spendMicroCents - a.spendMicroCents || ((a.model as string) < (b.model as string) ? -1 : 1))
    .slice(0, MAX_USAGE_ROWS);
}

/**
 * Usage by key from `from` to `to` as GET /usage answers its rows (a JSON array of
 * presentUsageRow's rows, the same as tenantUsage's presented), read from the per-key window
 * where it covers exactly those days (the last 30) without making row objects; null for other ranges.
 */
export function tenantUsageByKeyJson(db: Database, tenantId: string, from: number, to: number): Promise<string | null> {
  return windowTopKeysJson(db, tenantId, from, to, MAX_USAGE_ROWS);
}

/**
 * The tenant's usage from `from` to `to` (UTC days, both included; at most MAX_USAGE_RANGE_DAYS):
 * one row per day (every day, zeros included, oldest first), per key or per model (those with any
 * request, most requests first, at most MAX_USAGE_ROWS).
 */
export async function tenantUsage(db: Database, tenantId: string, query: TenantUsageQuery): Promise<TenantUsageRow[]> {
  const end = query.to + DAY_MS;
  if (query.groupBy === 'day') return byDay(db, tenantId, query.from, end);
  if (query.groupBy === 'key') return byKey(db, tenantId, query.from, end);
  return byModel(db, tenantId, query.from, end);
}
