/**
 * What a key's requests came to, by outcome: every request the guard saw with the key (admitted
 * or refused), per hour over the last 24 hours and per UTC day over the last 30 days, the most
 * frequent refusal reasons, and spend by model. Shared by the management API and the dashboard.
 * Read from rollups written every flush interval (so up to about 1 s behind).
 */
import type { Db } from '../data/client-types';
import type { Database } from '../data/database';
import {
  keyModelUsage,
  keyOutcomeCounts,
  type ModelUsage,
  type OutcomeCount,
  ownerOutcomesByDay,
  tenantOutcomesByDay,
} from '../data/repositories/outcomes';
import { ADMITTED_OUTCOMES, dayStart, hourStart, REFUSAL_OUTCOMES, type RefusalOutcome, REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Requests per outcome code: every code present, 0 when none. */
export type OutcomeCounts = Record<RequestOutcome, number>;

const ZERO: Readonly<OutcomeCounts> = Object.freeze(Object.fromEntries(REQUEST_OUTCOMES.map((outcome) => [outcome, 0])) as OutcomeCounts);

/** Every outcome code at 0 (a copy of one template: a report of 10,000 keys makes 10,000). */
export function zeroOutcomes(): OutcomeCounts {
  return { ...ZERO };
}

const KNOWN = new Set<string>(REQUEST_OUTCOMES);

/** Adds `requests` to `counts[outcome]` (codes this version does not know are ignored). */
export function addOutcome(counts: OutcomeCounts, outcome: string, requests: number): void {
  if (KNOWN.has(outcome)) counts[outcome as RequestOutcome] += requests;
}

/** Totals of a set of outcome counts: every request, admitted ones, refused ones. */
export function outcomeTotals(counts: OutcomeCounts): { requests: number; admitted: number; refused: number } {
  const admitted = ADMITTED_OUTCOMES.reduce((sum, outcome) => sum + counts[outcome], 0);
  const refused = REFUSAL_OUTCOMES.reduce((sum, outcome) => sum + counts[outcome], 0);
  return { requests: admitted + refused, admitted, refused };
}

/** One hour or day of a key's requests by outcome. */
export interface OutcomePoint {
  start: Date;
  /** Every request in the bucket (admitted and refused). */
  requests: number;
  refused: number;
  outcomes: OutcomeCounts;
}

/** A refusal reason and how often it answered. */
export interface RefusalReason {
  outcome: RefusalOutcome;
  requests: number;
}

/** A key's requests by outcome: series, totals, refusal reasons, models. */
export interface KeyOutcomeReport {
  /** The last 24 hours, oldest first, one point per hour (zeros included). */
  hourly: OutcomePoint[];
  /** The last 30 UTC days, oldest first, one point per day (zeros included). */
  daily: OutcomePoint[];
  /** Sum of `daily`: the last 30 days by outcome. */
  last30Days: OutcomeCounts;
  /** Refusal reasons of the last 30 days, most frequent first (only those that happened). */
  topRefusals: RefusalReason[];
  /** Admitted requests of the last 30 days by model, most requested first. */
  models: ModelUsage[];
}

/** Outcome counts laid out as `count` buckets from `first`, `step` apart (missing buckets are zeros). */
export function outcomeSeries(counts: OutcomeCount[], first: number, step: number, count: number): OutcomePoint[] {
  const points = Array.from({ length: count }, (_, i) => ({ start: new Date(first + i * step), outcomes: zeroOutcomes() }));
  for (const row of counts) {
    const index = Math.floor((row.bucketStart.getTime() - first) / step);
    if (index >= 0 && index < count) addOutcome(points[index].outcomes, row.outcome, row.requests);
  }
  return points.map((point) => {
    const totals = outcomeTotals(point.outcomes);
    return { ...point, requests: totals.requests, refused: totals.refused };
  });
}

/** Sums the outcome counts of several points. */
export function sumOutcomes(points: { outcomes: OutcomeCounts }[]): OutcomeCounts {
  const total = zeroOutcomes();
  for (const point of points) for (const outcome of REQUEST_OUTCOMES) total[outcome] += point.outcomes[outcome];
  return total;
}

/** The refusal reasons that happened, most frequent first, at most `limit`. */
export function topRefusalReasons(counts: OutcomeCounts, limit = 5): RefusalReason[] {
  return REFUSAL_OUTCOMES.filter((outcome) => counts[outcome] > 0)
    .map((outcome) => ({ outcome, requests: counts[outcome] }))
    .sort((a, b) => b.requests - a.requests || (a.outcome < b.outcome ? -1 : 1))
    .slice(0, limit);
}

/**
 * A tenant's requests by outcome per UTC day over the last 30 days (oldest first, zeros included),
 * over all its keys, or only those of `ownerId` (a member's overview). Deleted keys count in the
 * tenant's series, not in an owner's.
 */
export async function tenantOutcomeSeries(db: Database, tenantId: string, options: { ownerId?: string; now?: number } = {}): Promise<OutcomePoint[]> {
  const now = options.now ?? Date.now();
  const firstDay = dayStart(now) - 29 * DAY_MS;
  const counts = options.ownerId
    ? await ownerOutcomesByDay(db, tenantId, options.ownerId, new Date(firstDay))
    : await tenantOutcomesByDay(db.prisma, tenantId, new Date(firstDay), new Date(dayStart(now) + DAY_MS));
  return outcomeSeries(counts, firstDay, DAY_MS, 30);
}

/** A key's outcomes over the last 24 hours and 30 days, top refusal reasons and model spend. */
export async function keyOutcomeReport(db: Db, keyId: string, now = Date.now()): Promise<KeyOutcomeReport> {
  const firstHour = hourStart(now) - 23 * HOUR_MS;
  const firstDay = dayStart(now) - 29 * DAY_MS;
  const [hours, days, models] = await Promise.all([
    keyOutcomeCounts(db, keyId, 'hour', new Date(firstHour)),
    keyOutcomeCounts(db, keyId, 'day', new Date(firstDay)),
    keyModelUsage(db, keyId, new Date(firstDay)),
  ]);
  const daily = outcomeSeries(days, firstDay, DAY_MS, 30);
  const last30Days = sumOutcomes(daily);
  return {
    hourly: outcomeSeries(hours, firstHour, HOUR_MS, 24),
    daily,
    last30Days,
    topRefusals: topRefusalReasons(last30Days, REFUSAL_OUTCOMES.length),
    models,
  };
}
