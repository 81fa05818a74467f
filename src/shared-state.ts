/**
 * What instances must share: limits (rate windows, quota and budget ledgers, invalid-key and
 * sign-in counters) and key-change events. Without REDIS_URL both live in this process; with it,
 * in Redis, so several identical instances behind a load balancer enforce one set of limits and
 * hear each other's key changes within milliseconds.
 */
import type { ResolvedConfig } from './config';
import type { Database } from './data/database';
import { lowerCeilings, raiseCeiling } from './data/repositories/usage';
import { type KeyEventBus, LocalKeyEventBus } from './keys/key-events';
import type { CeilingStore } from './limits/ledger';
import { createMemoryLimits, type LimitBackend } from './limits/limits';
import type { Logger } from './logger';
import type { HealthCheck } from './routes/health';
import { closeRedis, createRedisClient, whenReady } from './redis/redis-client';
import { RedisKeyEventBus } from './redis/redis-key-events';
import { createRedisLimits } from './redis/redis-limits';

export interface SharedState {
  limits: LimitBackend;
  keyEvents: KeyEventBus;
  /** True while key caches must not be trusted (this instance may be missing key changes). */
  cacheUnsafe(): boolean;
  /** Registers what to do when missed key changes are possible (clear caches). */
  onMissedChanges(listener: () => void): void;
  /** Resolves once Redis answers (or after a short wait: the failure policy covers the rest). */
  ready(): Promise<void>;
  /** Health checks of the shared stores (none in memory mode). */
  health: HealthCheck[];
  close(): Promise<void>;
}

/** Longest a reservation may live if its instance dies before settling it. */
const RESERVATION_TTL_MS = 11 * 60_000;

export function createSharedState(config: ResolvedConfig, deps: { database: Database; logger: Logger }): SharedState {
  const ceilings: CeilingStore = {
    raise: (keyId, kind, periodStart, ceiling) => raiseCeiling(deps.database.prisma, keyId, kind, periodStart, ceiling),
    lower: (entries) => lowerCeilings(deps.database, entries),
  };
  if (!config.redis) {
    return {
      limits: createMemoryLimits({ ceilings, invalidKeys: config.api.invalidKeys }),
      keyEvents: new LocalKeyEventBus(),
      cacheUnsafe: () => false,
      onMissedChanges: () => undefined,
      ready: async () => undefined,
      health: [],
      close: async () => undefined,
    };
  }

  const commands = createRedisClient(config.redis.url, deps.logger, 'commands');
  const subscriber = createRedisClient(config.redis.url, deps.logger, 'subscriber');
  const events = new RedisKeyEventBus(commands, subscriber, deps.logger);
  let lastFailureLog = 0;
  const limits = createRedisLimits({
    client: commands,
    ceilings,
    invalidKeys: config.api.invalidKeys,
    failureMode: config.redis.failureMode,
    reservationTtlMs: RESERVATION_TTL_MS,
    onFailure: (error) => {
      // Once a minute at most: during an outage every guarded request would log.
      if (Date.now() - lastFailureLog < 60_000) return;
      lastFailureLog = Date.now();
      deps.logger.error({ err: error }, 'Redis unavailable: quotas and budgets follow REDIS_FAILURE_MODE');
    },
  });
  return {
    limits,
    keyEvents: events,
    cacheUnsafe: () => !events.listening(),
    onMissedChanges: (listener) => events.onResubscribe(listener),
    ready: async () => {
      await Promise.all([whenReady(commands, 5000), whenReady(subscriber, 5000)]);
    },
    health: [
      {
        name: 'redis',
        critical: false,
        check: async () => {
          await commands.ping();
          return events.listening() ? { status: 'up' } : { status: 'degraded', detail: 'not subscribed to key changes' };
        },
      },
    ],
    close: async () => {
      await Promise.all([closeRedis(commands), closeRedis(subscriber)]);
    },
  };
}
