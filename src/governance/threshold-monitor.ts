/**
 * Raises `budget.threshold` and `quota.threshold` alerts when spend or requests cross one of the
 * tenant's thresholds (default 50%, 80%, 100%), per level (key, owner, tenant) and period.
 *
 * It learns which keys were used from the guard's usage events and, once a second, reads the
 * counters of those keys and the levels above them from the ledger (the same figures the guard
 * enforces, shared through Redis across instances). Each alert's dedupKey names the level, the
 * period and the threshold, so any instance may see the crossing and the alert still happens once
 * (AlertService.raise: one insert wins); a bounded memo spares the database repeated raises.
 */
import { LRUCache } from 'lru-cache';
import type { AlertInput } from '../alerts/alert-types';
import { type ApiKeyRecord, budgetBaseline, budgetPeriodStart, type CachedKeyStore, keyQuotaBaseline, type LevelEntry, type LimitBackend, microCentsToCents, quotaPeriodStart, type UsageEvent, type UsageRecorder } from '@keyward/guard';
import type { Logger } from '../logger';
import type { LevelDirectory } from './level-directory';

export interface ThresholdMonitorOptions {
  limits: LimitBackend;
  keys: Pick<CachedKeyStore, 'findKey'>;
  levels: LevelDirectory;
  alerts: { raise(input: AlertInput): Promise<boolean> };
  logger: Logger;
  /** How often used keys are checked (ms; default 1000). */
  intervalMs?: number;
  now?: () => number;
}

/** Keys checked per round at most; more wait for the next round. */
const MAX_KEYS_PER_ROUND = 5_000;

interface Counter {
  type: 'budget.threshold' | 'quota.threshold';
  /** Where it counts: `key:<id>`, or the level's subject. */
  subject: string;
  periodStart: number;
  used: number;
  limit: number;
  data: Record<string, unknown>;
}

/** Watches usage and raises threshold alerts (start() it; stop() before the app closes). */
export class ThresholdMonitor {
  private touched = new Set<string>();
  private readonly raised = new LRUCache<string, true>({ max: 50_000 });
  private timer: NodeJS.Timeout | null = null;
  private round: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly options: ThresholdMonitorOptions) {
    this.now = options.now ?? Date.now;
  }

  /** A recorder to put beside the usage buffer: it only notes which keys were used. */
  recorder(): UsageRecorder {
    return {
      // Every admitted request counts against the quota, so every one may cross a threshold.
      record: (event: UsageEvent) => {
        this.touched.add(event.keyId);
      },
    };
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** Stops the timer and runs a last round, so what was used before a graceful stop is checked. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.check();
  }

  /** One round: the counters of every key used since the last round (one round at a time). */
  check(): Promise<void> {
    this.round ??= this.checkTouched()
      .catch((error) => this.options.logger.warn({ err: error }, 'checking alert thresholds failed; retried next round'))
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }

  private async checkTouched(): Promise<void> {
    if (this.touched.size === 0) return;
    const ids = [...this.touched].slice(0, MAX_KEYS_PER_ROUND);
    for (const id of ids) this.touched.delete(id);
    const seenLevels = new Set<string>();
    for (const id of ids) {
      const key = await this.options.keys.findKey(id);
      if (!key) continue;
      const [levels, thresholds] = await Promise.all([this.options.levels.levelsOf(key), this.options.levels.alertThresholds(key.tenantId)]);
      const counters = await this.countersOf(key, levels.filter((l) => !seenLevels.has(l.subject)));
      for (const level of levels) seenLevels.add(level.subject);
      for (const counter of counters) await this.raiseCrossed(key.tenantId, counter, thresholds);
    }
  }

  /** The budget and quota counters of a key and of the levels above it, with what they used. */
  private async countersOf(key: ApiKeyRecord, levels: LevelEntry[]): Promise<Counter[]> {
    const { ledger } = this.options.limits;
    const now = this.now();
    const counters: Counter[] = [];
    const keyData = { level: 'key', keyId: key.id, keyName: key.name };
    if (key.budget) {
      const periodStart = budgetPeriodStart(key.budget.period, now);
      const usage = await ledger.usage(key.id, 'budget', periodStart, budgetBaseline(key));
      counters.push(budgetCounter(`key:${key.id}`, periodStart, usage.used, key.budget, keyData));
    }
    if (key.usageLimit !== null) {
      const periodStart = quotaPeriodStart(key.usageLimitPeriod, now);
      const usage = await ledger.usage(key.id, 'quota', periodStart, keyQuotaBaseline(key, periodStart));
      counters.push({
        type: 'quota.threshold',
        subject: `key:${key.id}`,
        periodStart,
        used: usage.used,
        limit: key.usageLimit,
        data: { ...keyData, usedRequests: usage.used, limitRequests: key.usageLimit, period: key.usageLimitPeriod },
      });
    }
    for (const level of levels) {
      if (!level.limits.budget) continue;
      const periodStart = budgetPeriodStart(level.limits.budget.period, now);
      const usage = await ledger.usage(level.subject, 'budget', periodStart, level.budgetBaseline);
      const data = level.level === 'owner' ? { level: 'owner', userId: level.subject.split(':')[2] } : { level: 'tenant' };
      counters.push(budgetCounter(level.subject, periodStart, usage.used, level.limits.budget, data));
    }
    return counters;
  }

  private async raiseCrossed(tenantId: string, counter: Counter, thresholds: readonly number[]): Promise<void> {
    if (counter.limit <= 0) return;
    const percent = (counter.used / counter.limit) * 100;
    for (const threshold of thresholds) {
      if (percent < threshold) continue;
      const dedupKey = `${counter.type}:${counter.subject}:${counter.periodStart}:${threshold}`;
      if (this.raised.has(dedupKey)) continue;
      await this.options.alerts.raise({
        tenantId,
        type: counter.type,
        dedupKey,
        data: { tenantId, ...counter.data, threshold, periodStart: new Date(counter.periodStart).toISOString() },
      });
      this.raised.set(dedupKey, true);
    }
  }
}

function budgetCounter(subject: string, periodStart: number, usedMicroCents: number, budget: { limitCents: number; period: string }, data: Record<string, unknown>): Counter {
  return {
    type: 'budget.threshold',
    subject,
    periodStart,
    used: usedMicroCents,
    limit: budget.limitCents * 1_000_000,
    data: { ...data, spentCents: microCentsToCents(usedMicroCents), limitCents: budget.limitCents, period: budget.period },
  };
}
