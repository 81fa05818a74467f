/**
 * @keyward/guard/redis: the limit backend for several instances, on Redis (ioredis, an optional
 * peer dependency: install it beside this package to use this entry point).
 */
export { createRedisLimits } from './redis/redis-limits';
export type { RedisLimitsOptions } from './redis/redis-limits';
export { CircuitOpenError, describeFailure, RedisBreaker, type BreakerState } from './redis/redis-breaker';
export type { RedisClient } from './redis/redis-types';
