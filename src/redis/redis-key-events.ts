/**
 * Key changes broadcast to every instance through Redis pub/sub, so a revoke (or any change) made
 * on one instance reaches every instance's key cache within milliseconds. While this instance's
 * subscription is down it may miss changes: `listening()` is false then, the key cache is
 * bypassed, and it is cleared when the subscription comes back.
 */
import { randomBytes } from 'node:crypto';
import type { KeyChange, KeyEventBus } from '../keys/key-events';
import { LocalKeyEventBus } from '../keys/key-events';
import type { Logger } from '../logger';
import type { RedisClient } from './redis-client';

const CHANNEL = 'keyward:key-changes';

export class RedisKeyEventBus implements KeyEventBus {
  private readonly local = new LocalKeyEventBus();
  private readonly origin = randomBytes(8).toString('hex');
  private subscribed = false;
  private readonly reconnectListeners = new Set<() => void>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly subscriber: RedisClient,
    private readonly logger: Logger,
  ) {
    subscriber.on('message', (channel: string, message: string) => {
      if (channel !== CHANNEL) return;
      try {
        const { origin, change } = JSON.parse(message) as { origin: string; change: KeyChange };
        if (origin !== this.origin) this.local.publish({ ...change, remote: true });
      } catch (error) {
        logger.error({ err: error }, 'unreadable key-change message');
      }
    });
    subscriber.on('ready', () => {
      subscriber
        .subscribe(CHANNEL)
        .then(() => {
          this.subscribed = true;
          // Changes may have been missed while we were not listening.
          for (const listener of this.reconnectListeners) listener();
        })
        .catch((error: unknown) => logger.error({ err: error }, 'subscribing to key changes failed'));
    });
    subscriber.on('close', () => {
      this.subscribed = false;
    });
  }

  publish(change: KeyChange): void {
    this.local.publish(change);
    this.publisher.publish(CHANNEL, JSON.stringify({ origin: this.origin, change })).catch((error: unknown) => {
      this.logger.error({ err: error, keyId: change.keyId }, 'broadcasting a key change failed');
    });
  }

  subscribe(listener: (change: KeyChange) => void): () => void {
    return this.local.subscribe(listener);
  }

  /** True while this instance hears other instances' changes. */
  listening(): boolean {
    return this.subscribed && this.subscriber.status === 'ready';
  }

  /** Called each time the subscription (re)starts. */
  onResubscribe(listener: () => void): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }
}
