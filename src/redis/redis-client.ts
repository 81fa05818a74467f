/**
 * Redis connections for the scale-out mode. A Redis that is down and one that stalls (accepts
 * commands, answers none, sockets open) are handled alike: no offline queue (a command fails at
 * once while the connection is known to be down), a timeout on every command (a stalled Redis
 * fails it after REDIS_COMMAND_TIMEOUT_MS), and the breaker in redis-breaker.ts on top so that,
 * once Redis is known to be unreachable, it is not asked at all. The client reconnects on its own
 * with backoff; connection errors are logged through a throttled log instead of crashing the
 * process.
 */
import { Redis } from 'ioredis';
import { ThrottledLog } from '../lib/throttled-log';
import type { Logger } from '../logger';

export type RedisClient = Redis;

export interface RedisClientOptions {
  url: string;
  /**
   * A command without an answer after this long fails with "Command timed out". Leave it unset
   * for the subscriber: its SUBSCRIBE is on no request's path, and one that timed out (a busy
   * event loop is enough) would leave the connection subscribed but the app believing it is not.
   */
  commandTimeoutMs?: number;
}

export function createRedisClient(options: RedisClientOptions, logger: Logger, name: string): RedisClient {
  const client = new Redis(options.url, {
    connectionName: `keyward-${name}`,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: 2000,
    // Keep trying, at most every 2 s, for as long as the process lives.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  });
  const log = new ThrottledLog(logger);
  let down = false;
  client.on('error', (error: Error) => {
    // Every reconnection attempt fails the same way during an outage: one line per interval.
    log.error(`redis-connection-${name}`, error, 'Redis connection failed; retrying', { connection: name });
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

/** Closes a client without waiting long for an unreachable or stalled server. */
export async function closeRedis(client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([client.quit().catch(() => undefined), gaveUp]);
    clearTimeout(timer);
  }
  if (client.status !== 'end') client.disconnect();
}
