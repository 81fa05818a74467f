/**
 * Polls key_changes so this process hears every key change made anywhere (another instance, the
 * CLI) within about KEY_CHANGES_POLL_MS, with or without Redis. Each poll is one indexed query,
 * the rows after the last id seen (a range scan of the primary key, usually empty); the inbox
 * skips this process's own changes and those Redis already delivered. Now and then it also
 * deletes rows older than the retention.
 */
import type { KeyChangeRow } from '../data/repositories/key-changes';
import { ThrottledLog } from '../lib/throttled-log';
import type { Logger } from '../logger';
import type { KeyChangeInbox } from './key-change-inbox';

/** Where the feed reads changes (the app wires it to src/data/repositories/key-changes.ts). */
export interface KeyChangeSource {
  /** The newest change id, 0 when there is none. */
  latestId(): Promise<number>;
  /** Up to `limit` changes after `id`, oldest first. */
  after(id: number, limit: number): Promise<KeyChangeRow[]>;
  /** Deletes changes recorded before `cutoff`. */
  pruneBefore(cutoff: Date): Promise<number>;
}

export interface KeyChangeFeedOptions {
  source: KeyChangeSource;
  inbox: KeyChangeInbox;
  /** Pause between polls (KEY_CHANGES_POLL_MS). */
  pollMs: number;
  /**
   * How long rows are kept. Longer than the key cache's TTL: a process that could not poll for
   * longer than this has nothing cached from before the changes it skips.
   */
  retentionMs: number;
  logger: Logger;
  /** Pause between prunes (default 5 minutes). */
  pruneEveryMs?: number;
  now?: () => number;
}

/** Rows per query; a process that fell behind reads the backlog in several queries at once. */
const BATCH = 500;

export class KeyChangeFeed {
  private readonly options: Required<KeyChangeFeedOptions>;
  private readonly failures: ThrottledLog;
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<boolean> | null = null;
  private positioned = false;
  private started = false;
  private stopped = false;
  private lastPruneAt = 0;
  private firstAttemptDone!: () => void;
  private readonly firstAttempt = new Promise<void>((resolve) => (this.firstAttemptDone = resolve));

  constructor(options: KeyChangeFeedOptions) {
    this.options = { pruneEveryMs: 5 * 60_000, now: Date.now, ...options };
    this.failures = new ThrottledLog(options.logger);
  }

  /** Polls now, then every `pollMs` after the previous poll ended, until stop(). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    // Now, not on a timer: the timers do not keep the process alive, and ready() waits for this.
    this.pollThenSchedule();
  }

  /** Resolves after the first poll, successful or not. */
  ready(): Promise<void> {
    return this.firstAttempt;
  }

  /**
   * One poll. Never rejects: a failure (database down) is logged, throttled, and the next poll
   * starts from the same id. Resolves with whether it succeeded.
   */
  poll(): Promise<boolean> {
    this.polling ??= this.read().finally(() => {
      this.polling = null;
      this.firstAttemptDone();
    });
    return this.polling;
  }

  /** Stops polling; resolves once a poll in flight has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
  }

  private pollThenSchedule(): void {
    void this.poll().then(() => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pollThenSchedule();
      }, this.options.pollMs);
      this.timer.unref();
    });
  }

  private async read(): Promise<boolean> {
    const { source, inbox } = this.options;
    try {
      // Changes before the first poll happened before this process cached anything.
      if (!this.positioned) {
        inbox.startAfter(await source.latestId());
        this.positioned = true;
      }
      for (;;) {
        const rows = await source.after(inbox.cursor, BATCH);
        inbox.fromFeed(rows);
        if (rows.length < BATCH) break;
      }
    } catch (error) {
      // Until polls work again, changes made elsewhere reach this process's key cache only
      // through Redis (when configured) or the cache's TTL.
      this.failures.error('key_changes_poll', error, 'reading key changes failed; retrying every poll');
      return false;
    }
    await this.pruneWhenDue();
    return true;
  }

  private async pruneWhenDue(): Promise<void> {
    const now = this.options.now();
    if (now - this.lastPruneAt < this.options.pruneEveryMs) return;
    this.lastPruneAt = now;
    try {
      await this.options.source.pruneBefore(new Date(now - this.options.retentionMs));
    } catch (error) {
      this.failures.error('key_changes_prune', error, 'pruning old key changes failed');
    }
  }
}
