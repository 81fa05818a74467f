import type { Redis } from 'ioredis';

/** The ioredis client the Redis limits run on (a plain `new Redis(...)`, with `commandTimeout` set). */
export type RedisClient = Redis;
