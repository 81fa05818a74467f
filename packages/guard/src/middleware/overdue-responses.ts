import type { Response } from 'express';

/** A tracked response: a link of the list OverdueResponses keeps (see there). */
export interface OverdueEntry {
  res: Response | null;
  deadline: number;
  prev: OverdueEntry | null;
  next: OverdueEntry | null;
}

/**
 * Responses holding a budget reservation, and when they must end. One timer sweeps them all
 * (cheaper than a timer per request); an overdue response is destroyed, which closes it, and the
 * close settles its reservation.
 *
 * They are kept in a doubly linked list of entries, and a forgotten entry is unlinked and cleared,
 * rather than in a Map keyed by the response. A Map that lives long enough sits in V8's old
 * generation, and a Map rehashes into a new table every few dozen insertions when entries come and
 * go; a table of an old Map is made in the old generation too, and the one it replaces keeps
 * pointing at the responses that were in flight then until the next full GC. Every young-generation
 * GC takes such pointers as live, so each of those requests (its response, request, headers,
 * closures: everything it reaches) was copied and then promoted, dead. With Redis limits, where
 * about 32 requests wait for Redis at any time, that was 93-97 % of what survived each young GC
 * and a quarter of the guarded route's CPU (`npm run bench -- --redis`). An unlinked entry points
 * at nothing, and nothing points at it.
 */
export class OverdueResponses {
  private head: OverdueEntry | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number) {}

  /** Tracks a response until `deadline`; give the entry back to forget() when the response closes. */
  track(res: Response, deadline: number): OverdueEntry {
    const entry: OverdueEntry = { res, deadline, prev: null, next: this.head };
    if (this.head) this.head.prev = entry;
    this.head = entry;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
    return entry;
  }

  /** Stops tracking (idempotent). */
  forget(entry: OverdueEntry): void {
    if (entry.res === null) return;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    entry.res = null;
    entry.prev = null;
    entry.next = null;
  }

  /** The responses tracked now (for tests and diagnostics). */
  get size(): number {
    let n = 0;
    for (let entry = this.head; entry; entry = entry.next) n += 1;
    return n;
  }

  private sweep(): void {
    const now = this.now();
    for (let entry = this.head; entry; ) {
      // Read before destroy(): a close handled at once would unlink and clear this entry.
      const { next, res } = entry;
      if (res && entry.deadline <= now && !res.writableEnded) res.destroy();
      entry = next;
    }
  }
}
