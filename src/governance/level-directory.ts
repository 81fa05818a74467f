/**
 * The guard's view of the levels above a key: each tenant's level rows, read in one query and
 * cached like keys (bounded, with a TTL), dropped the moment a level changes in any process (level
 * changes travel as key changes whose id is the level's subject, through Redis and the change feed).
 */
import { LRUCache } from 'lru-cache';
import type { LevelLimitRecord } from '../data/repositories/level-limits';
import { type ApiKeyRecord, DEFAULT_ALERT_THRESHOLDS, type KeyEventBus, type LevelEntry, type LevelSource, limitsNothing } from '@keyward/guard';

/** A tenant's levels: its own entry and its owners' by user id, and its alert thresholds. */
interface TenantLevels {
  tenant: LevelEntry | null;
  owners: Map<string, LevelEntry>;
  alertThresholds: number[];
}

export interface LevelDirectoryOptions {
  /** Reads every level row of a tenant. */
  load(tenantId: string): Promise<LevelLimitRecord[]>;
  events?: KeyEventBus;
  /** Most tenants kept (default 10,000). */
  max?: number;
  /** How long a tenant's levels are trusted without reading them again (default 30 s). */
  ttlMs?: number;
}

/** Whether a key change names a level (its id is a subject such as `tenant:<id>`). */
export function isLevelSubject(id: string): boolean {
  return id.startsWith('tenant:') || id.startsWith('owner:');
}

function entryOf(record: LevelLimitRecord): LevelEntry | null {
  if (limitsNothing(record)) return null;
  return {
    level: record.userId === null ? 'tenant' : 'owner',
    subject: record.subject,
    label: record.userId === null ? 'tenant' : 'owner',
    limits: { budget: record.budget, rateLimits: record.rateLimits, tokenLimits: record.tokenLimits },
    budgetBaseline: {
      used: 0,
      ceiling: record.budgetCeilingMicroCents,
      periodStart: record.budgetPeriodStart?.getTime() ?? -1,
    },
  };
}

/** A LevelSource over the level_limits table; a cached tenant answers without a promise. */
export class LevelDirectory implements LevelSource {
  private readonly cache: LRUCache<string, TenantLevels>;
  private readonly loading = new Map<string, Promise<TenantLevels>>();
  private generation = 0;
  private readonly unsubscribe: (() => void) | undefined;

  constructor(private readonly options: LevelDirectoryOptions) {
    this.cache = new LRUCache({ max: options.max ?? 10_000, ttl: options.ttlMs ?? 30_000 });
    this.unsubscribe = options.events?.subscribe((change) => {
      if (isLevelSubject(change.keyId)) this.invalidate(change.tenantId);
    });
  }

  levelsOf(key: ApiKeyRecord): LevelEntry[] | Promise<LevelEntry[]> {
    const cached = this.cache.get(key.tenantId);
    if (cached) return this.pick(cached, key);
    return this.read(key.tenantId).then((levels) => this.pick(levels, key));
  }

  /** The tenant's alert thresholds (percents, lowest first). */
  async alertThresholds(tenantId: string): Promise<number[]> {
    return (this.cache.get(tenantId) ?? (await this.read(tenantId))).alertThresholds;
  }

  /** Forgets a tenant's levels (after a change to any of them). */
  invalidate(tenantId: string): void {
    this.cache.delete(tenantId);
    this.loading.delete(tenantId);
    this.generation += 1;
  }

  close(): void {
    this.unsubscribe?.();
  }

  private pick(levels: TenantLevels, key: ApiKeyRecord): LevelEntry[] {
    const owner = key.ownerId === null ? undefined : levels.owners.get(key.ownerId);
    if (owner && levels.tenant) return [owner, levels.tenant];
    if (owner) return [owner];
    return levels.tenant ? [levels.tenant] : [];
  }

  /** One read per tenant at a time; a read that raced a change is used once but not cached. */
  private read(tenantId: string): Promise<TenantLevels> {
    const pending = this.loading.get(tenantId);
    if (pending) return pending;
    const startedAt = this.generation;
    const load = this.options
      .load(tenantId)
      .then((records) => {
        const levels: TenantLevels = { tenant: null, owners: new Map(), alertThresholds: [...DEFAULT_ALERT_THRESHOLDS] };
        for (const record of records) {
          if (record.userId === null) levels.alertThresholds = [...record.alertThresholds].sort((a, b) => a - b);
          const entry = entryOf(record);
          if (!entry) continue;
          if (record.userId === null) levels.tenant = entry;
          else levels.owners.set(record.userId, entry);
        }
        if (this.generation === startedAt) this.cache.set(tenantId, levels);
        return levels;
      })
      .finally(() => {
        if (this.loading.get(tenantId) === load) this.loading.delete(tenantId);
      });
    this.loading.set(tenantId, load);
    return load;
  }
}
