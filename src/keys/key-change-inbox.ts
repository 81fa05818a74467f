/**
 * The one way other processes' key changes enter this process. Two transports bring them: Redis
 * pub/sub (fast, but misses what is sent while the subscription is down) and the change feed (a
 * poll of key_changes, never misses). Each change id reaches this process's listeners at most once,
 * whichever transport brings it first: a `usage_reset` applied twice would drop usage buffered
 * after the first one.
 */
import { randomBytes } from 'node:crypto';
import type { KeyChangeRow } from '../data/repositories/key-changes';
import { type KeyChange, LocalKeyEventBus } from '@keyward/guard';

/**
 * Ids a fast transport delivered ahead of the feed, kept until the feed passes them. Bounded for
 * a feed that stays down while Redis keeps delivering; past it the oldest are forgotten (and
 * could be applied a second time when the feed comes back).
 */
const MAX_EARLY_IDS = 10_000;

export class KeyChangeInbox {
  /** Random id of this process (one app context), written with each change it makes. */
  readonly origin = randomBytes(8).toString('hex');
  /** This process's listeners (key cache, usage buffer). */
  readonly bus = new LocalKeyEventBus();
  private lastFeedId = 0;
  private readonly early = new Set<number>();

  /** Every change id up to this one has been handled (the feed reads in id order). */
  get cursor(): number {
    return this.lastFeedId;
  }

  /** Starts after `id`: earlier changes happened before this process had anything cached. */
  startAfter(id: number): void {
    if (id <= this.lastFeedId) return;
    this.lastFeedId = id;
    this.forgetEarlyUpToCursor();
  }

  /**
   * A change another process broadcast (Redis), in any order and possibly before the feed reads
   * it. Changes without an id (from an older version of Keyward) are delivered as they come.
   */
  fromBroadcast(change: KeyChange): void {
    const id = change.changeId;
    if (id !== undefined) {
      if (id <= this.lastFeedId || this.early.has(id)) return;
      if (this.early.size >= MAX_EARLY_IDS) this.early.delete(this.early.values().next().value as number);
      this.early.add(id);
    }
    this.bus.publish({ ...change, remote: true });
  }

  /** The next rows of key_changes, in id order (this process's own rows included). */
  fromFeed(rows: readonly KeyChangeRow[]): void {
    for (const row of rows) {
      if (row.id <= this.lastFeedId) continue;
      this.lastFeedId = row.id;
      if (this.early.delete(row.id) || row.origin === this.origin) continue;
      this.bus.publish({
        keyId: row.keyId,
        tenantId: row.tenantId,
        kind: row.kind as KeyChange['kind'],
        changeId: row.id,
        remote: true,
      });
    }
    // Ids the feed skipped (pruned before it read them) are done too.
    this.forgetEarlyUpToCursor();
  }

  private forgetEarlyUpToCursor(): void {
    for (const id of this.early) if (id <= this.lastFeedId) this.early.delete(id);
  }
}
