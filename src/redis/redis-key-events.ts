/**
 * Key changes broadcast to every instance through Redis pub/sub, so a revoke (or any change) made
 * on one instance reaches every instance's key cache within milliseconds: the fast path. While
 * this instance's subscription is down it misses messages; the change feed (a poll of
 * key_changes) still brings every change, and the inbox applies each change id once, whichever
 * of the two brings it first.
 */
import type { KeyChangeInbox } from '../keys/key-change-inbox';
import type { KeyChange, KeyEventBus } from '@keyward/guard';
import type { Logger } from '../logger';
import type { RedisClient } from './redis-client';

const CHANNEL = 'keyward:key-changes';

export class RedisKeyEventBus implements KeyEventBus {
  private subscribed = false;

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly logger: Logger,
    /** This process's listeners, origin and once-per-change-id delivery. */
    private readonly inbox: KeyChangeInbox,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== CHANNEL) return;
      try {
        const { origin, change } = JSON.parse(message) as { origin: string; change: KeyChange };
        if (origin !== this.inbox.origin) this.inbox.fromBroadcast(change);
      } catch (error) {
        logger.error({ err: error }, 'unreadable key-change message');
      }
    });
    subscriber.on('ready', () => {
      subscriber
        .subscribe(CHANNEL)
        .then(() => {
          // Changes sent while we were not listening come through the change feed.
          this.subscribed = true;
        })
        .catch((error: unknown) => logger.error({ err: error }, 'subscribing to key changes failed'));
    });
    subscriber.on('close', () => {
      this.subscribed = false;
    });
  }

  publish(change: KeyChange): void {
    this.inbox.bus.publish(change);
    this.publisher.publish(CHANNEL, JSON.stringify({ origin: this.inbox.origin, change })).catch((error: unknown) => {
      this.logger.error({ err: error, keyId: change.keyId }, 'broadcasting a key change failed');
    });
  }

  subscribe(listener: (change: KeyChange) => void): () => void {
    return this.inbox.bus.subscribe(listener);
  }

  /** True while this instance hears other instances' changes through Redis. */
  listening(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }
}
