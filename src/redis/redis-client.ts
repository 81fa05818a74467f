/**
 * Redis connections for the scale-out mode. Commands fail fast while Redis is unreachable (no
 * offline queue: a request must not hang waiting for Redis), the client reconnects on its own
 * with backoff, and errors are logged (at most once per outage) instead of crashing the process.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../logger';

export type RedisClient = Redis;

export function createRedisClient(url: string, logger: Logger, name: string): RedisClient {
  const client = new Redis(url, {
    connectionName: `keyward-${name}`,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    // Keep trying, at most every 2 s, for as long as the process lives.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
  let down = false;
  client.on('error', (error: Error) => {
    if (!down) logger.error({ err: error, connection: name }, 'Redis connection failed; retrying');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info({ connection: name }, 'Redis connection back');
    down = false;
  });
  return client;
}

/** Resolves when the client is ready, or after `timeoutMs` (then it keeps connecting in the background). */
export function whenReady(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      resolve(false);
    }, timeoutMs);
    timer.unref();
    const onReady = () => {
      clearTimeout(timer);
      resolve(true);
    };
    client.once('ready', onReady);
  });
}

/** Closes a client without waiting for an unreachable server. */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status === 'ready') {
    await client.quit().catch(() => client.disconnect());
  } else {
    client.disconnect();
  }
}
