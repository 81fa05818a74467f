/**
 * When this process last wrote a value per id (in the events' own time), so that a column moved
 * on every request (a key's lastUsedAt, a client address's lastSeenAt) is written at most once
 * per `everyMs` per id. Entries are kept in write order, oldest first; after each write those that
 * can suppress nothing any more are dropped, so the map holds only ids written within `everyMs`
 * (and at most `max`, the oldest forgotten first: written again, no harm).
 */
export class WriteTimes {
  private readonly times = new Map<string, number>();
  /** The latest time noted since the last forgetStale(). */
  private latest = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly everyMs: number,
    private readonly max = Number.POSITIVE_INFINITY,
  ) {}

  /** Whether a value at `time` is due for `id`: never written, or written `everyMs` or more before. */
  due(id: string, time: number): boolean {
    return time >= this.dueAt(id);
  }

  /** The earliest time a value is due for `id` (due() is `time >= dueAt(id)`); -Infinity when never written. */
  dueAt(id: string): number {
    const written = this.times.get(id);
    return written === undefined ? Number.NEGATIVE_INFINITY : written + this.everyMs;
  }

  /** A write of `id` at `time` committed. */
  wrote(id: string, time: number): void {
    // Re-inserted so the map stays in write order: the oldest entries come first.
    this.times.delete(id);
    this.times.set(id, time);
    if (time > this.latest) this.latest = time;
  }

  /** After a write's wrote() calls: drops the entries older than `everyMs` before the latest (and past `max`). */
  forgetStale(): void {
    const stale = this.latest - this.everyMs;
    for (const [id, at] of this.times) {
      if (at > stale && this.times.size <= this.max) break;
      this.times.delete(id);
    }
    this.latest = Number.NEGATIVE_INFINITY;
  }
}
