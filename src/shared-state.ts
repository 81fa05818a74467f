/**
 * What instances must share: limits (rate windows, quota and budget ledgers, invalid-key and
 * sign-in counters) and key-change events. Without REDIS_URL both live in this process; with it,
 * in Redis, so several identical instances behind a load balancer enforce one set of limits and
 * hear each other's key changes within milliseconds.
 */
import type { ResolvedConfig } from './config';
import type { Database } from './data/database';
import { lowerLevelCeilings, raiseLevelCeiling } from './data/repositories/level-limits';
import { CeilingRaises } from './data/ceiling-raises';
import { lowerCeilings } from './data/repositories/usage';
import type { KeyChangeInbox } from './keys/key-change-inbox';
import { type CeilingStore, createMemoryLimits, type KeyEventBus, type LimitBackend } from '@keyward/guard';
import { ThrottledLog } from './lib/throttled-log';
import type { Logger } from './logger';
import type { HealthCheck } from './routes/health';
import { type BreakerState, CircuitOpenError, createRedisLimits, describeFailure, RedisBreaker } from '@keyward/guard/redis';
import { closeRedis, createRedisClient, whenReady } from './redis/redis-client';
import { RedisKeyEventBus } from './redis/redis-key-events';

export interface SharedState {
  limits: LimitBackend;
  /**
   * Key changes: the inbox's listeners, plus Redis broadcasting when configured. Losing the Redis
   * subscription does not make key caches unsafe (they used to be bypassed, then cleared on
   * resubscribe): the change feed brings every change within KEY_CHANGES_POLL_MS whatever Redis
   * does, so bypassing would only put every request on the database during a Redis outage.
   */
  keyEvents: KeyEventBus;
  /** Resolves once Redis answers (or after a short wait: the failure policy covers the rest). */
  ready(): Promise<void>;
  /** Health checks of the shared stores (none in memory mode). */
  health: HealthCheck[];
  /** The Redis circuit breaker (null in memory mode), for metrics. */
  breaker: { readonly state: BreakerState } | null;
  close(): Promise<void>;
}

/** Longest a reservation may live if its instance dies before settling it. */
const RESERVATION_TTL_MS = 11 * 60_000;
/** Consecutive unanswered Redis calls that open the breaker (one request makes up to four at once). */
const BREAKER_FAILURES = 3;

export function createSharedState(config: ResolvedConfig, deps: { database: Database; logger: Logger; inbox: KeyChangeInbox }): SharedState {
  // Keys' ceilings live on api_keys; an owner's or tenant's (subjects with a ':') on level_limits.
  const isLevel = (subject: string) => subject.includes(':');
  // Keys' raises of one tick are written together (a burst of first-seen keys: one write a tick).
  const keyRaises = new CeilingRaises(deps.database);
  const ceilings: CeilingStore = {
    raise: (subject, kind, periodStart, ceiling) =>
      isLevel(subject)
        ? raiseLevelCeiling(deps.database.prisma, subject, periodStart, ceiling)
        : keyRaises.raise(subject, kind, periodStart, ceiling),
    lower: async (entries) => {
      const keys = entries.filter((e) => !isLevel(e.keyId));
      if (keys.length > 0) await lowerCeilings(deps.database, keys);
      await lowerLevelCeilings(
        deps.database,
        entries.filter((e) => isLevel(e.keyId)).map((e) => ({ subject: e.keyId, periodStart: e.periodStart, ceiling: e.ceiling })),
      );
    },
  };
  if (!config.redis) {
    return {
      limits: createMemoryLimits({ ceilings, invalidKeys: config.api.invalidKeys }),
      keyEvents: deps.inbox.bus,
      ready: async () => undefined,
      health: [],
      breaker: null,
      close: async () => undefined,
    };
  }

  const { commandTimeoutMs, breakerCooldownMs, failureMode } = config.redis;
  const commands = createRedisClient({ url: config.redis.url, commandTimeoutMs }, deps.logger, 'commands');
  const subscriber = createRedisClient({ url: config.redis.url }, deps.logger, 'subscriber');
  const events = new RedisKeyEventBus(commands, subscriber, deps.logger, deps.inbox);
  // During an outage every guarded request fails the same way: one line per kind per interval.
  const log = new ThrottledLog(deps.logger);
  const breaker = new RedisBreaker({ failureThreshold: BREAKER_FAILURES, cooldownMs: breakerCooldownMs, probe: () => commands.ping() });
  breaker.onOpen((error) =>
    log.error('redis-breaker-opened', error, 'Redis breaker opened: Redis is not asked until a probe finds it answering', {
      probeEveryMs: breakerCooldownMs,
    }),
  );
  breaker.onClose((openForMs) => log.warn('redis-breaker-closed', undefined, 'Redis breaker closed: Redis answers again', { openForMs }));
  const limits = createRedisLimits({
    client: commands,
    breaker,
    ceilings,
    invalidKeys: config.api.invalidKeys,
    failureMode,
    reservationTtlMs: RESERVATION_TTL_MS,
    onFailure: (error) => {
      const policy = `rate windows count in this instance; quotas and budgets follow REDIS_FAILURE_MODE=${failureMode}`;
      if (error instanceof CircuitOpenError) log.warn('redis-circuit-open', undefined, `Redis not asked (breaker open): ${policy}`);
      else log.error('redis-command', error, `Redis command failed (${describeFailure(error)}): ${policy}`);
    },
  });
  return {
    limits,
    keyEvents: events,
    ready: async () => {
      await Promise.all([whenReady(commands, 5000), whenReady(subscriber, 5000)]);
    },
    health: [
      {
        name: 'redis',
        critical: false,
        // Honest within the check's deadline: 'down' while the breaker is open or a PING times out.
        check: async () => {
          if (breaker.state !== 'closed') return { status: 'down', detail: breaker.describe() };
          try {
            await breaker.run(() => commands.ping());
          } catch (error) {
            const reason = describeFailure(error);
            return { status: 'down', detail: reason === 'no answer' ? `no answer within ${commandTimeoutMs} ms` : reason };
          }
          return events.listening() ? { status: 'up' } : { status: 'degraded', detail: 'not subscribed to key changes' };
        },
      },
    ],
    breaker,
    close: async () => {
      breaker.close();
      await Promise.all([closeRedis(commands), closeRedis(subscriber)]);
    },
  };
}
