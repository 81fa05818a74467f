/**
 * Hard counters for request quotas and spend budgets: nothing may pass the limit, whatever the
 * concurrency and even across a crash.
 *
 * A request first reserves the most it can use; the reservation is refused when used + reserved +
 * amount would pass the limit; after the request, it settles to what was really used and the rest
 * is released. The counter also keeps a durable *ceiling* in the database: before reserved usage
 * may pass the ceiling, the ceiling is raised (a write every few percent of the limit, never per
 * request). A process that restarts after a crash starts from max(flushed usage, ceiling), which
 * is never below what was really used, so lost buffered counters cannot let a limit be overshot.
 */

/** Which counter of a key. */
export type CounterKind = 'quota' | 'budget';

/** What the database knows of a counter, used to start it in a process that has not seen it yet. */
export interface CounterBaseline {
  /** Usage flushed to the database for `periodStart`. */
  used: number;
  /** The durable ceiling for `periodStart`. */
  ceiling: number;
  /** The period the two numbers belong to (ms; 0 for counters without periods). */
  periodStart: number;
}

export interface ReserveRequest {
  keyId: string;
  kind: CounterKind;
  /** The current period (ms; 0 for counters without periods). */
  periodStart: number;
  limit: number;
  amount: number;
  baseline: CounterBaseline;
}

/** A reservation to settle once the request has finished. */
export interface Reservation {
  readonly keyId: string;
  readonly kind: CounterKind;
  readonly periodStart: number;
  readonly amount: number;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; used: number; reserved: number }
  | { ok: false; used: number; reserved: number };

export interface CounterUsage {
  used: number;
  reserved: number;
}

/** Persists ceilings (the app implements it on the api_keys table). */
export interface CeilingStore {
  /** Raises a counter's ceiling for a period to at least `ceiling`; a newer period starts over. */
  raise(keyId: string, kind: CounterKind, periodStart: number, ceiling: number): Promise<void>;
  /** After a clean shutdown: ceilings back down to what was really used. */
  lower(entries: { keyId: string; kind: CounterKind; periodStart: number; ceiling: number }[]): Promise<void>;
}

/** Quota and budget counters; memory-backed here, Redis-backed for several instances. */
export interface LimitLedger {
  reserve(request: ReserveRequest): Promise<ReserveResult>;
  /** Ends a reservation: `used` (≤ or, if the request overran its estimate, > amount) is counted. */
  settle(reservation: Reservation, used: number): Promise<void>;
  /** Current usage of a counter (starting it from the baseline when unseen). */
  usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage>;
  /** Forgets a key's counters (after a usage reset, the database holds the new baseline). */
  reset(keyId: string): Promise<void>;
  /** Called once requests have drained: lets the store lower ceilings where safe. */
  close(): Promise<void>;
}

/** Extra room a ceiling raise takes beyond what is needed, as a share of the limit. */
const CEILING_HEADROOM = 0.05;

interface Counter {
  periodStart: number;
  used: number;
  reserved: number;
  ceiling: number;
  /** A ceiling raise in flight; other reservations that need more wait for it. */
  raising: Promise<void> | null;
}

function startFrom(baseline: CounterBaseline, periodStart: number): Counter {
  const samePeriod = baseline.periodStart === periodStart;
  const used = samePeriod ? Math.max(baseline.used, baseline.ceiling) : 0;
  return { periodStart, used, reserved: 0, ceiling: used, raising: null };
}

/** The single-instance ledger: counters in this process, ceilings in the database. */
export class MemoryLedger implements LimitLedger {
  private readonly counters = new Map<string, Counter>();

  constructor(private readonly ceilings: CeilingStore) {}

  private counter(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Counter {
    const id = `${kind}:${keyId}`;
    let counter = this.counters.get(id);
    if (!counter || counter.periodStart < periodStart) {
      counter = startFrom(baseline, periodStart);
      this.counters.set(id, counter);
    }
    return counter;
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const { keyId, kind, periodStart, limit, amount } = request;
    for (;;) {
      const counter = this.counter(keyId, kind, periodStart, request.baseline);
      const needed = counter.used + counter.reserved + amount;
      if (needed > limit) return { ok: false, used: counter.used, reserved: counter.reserved };
      if (needed <= counter.ceiling) {
        counter.reserved += amount;
        return { ok: true, reservation: { keyId, kind, periodStart, amount }, used: counter.used, reserved: counter.reserved };
      }
      if (!counter.raising) {
        const target = Math.min(limit, needed + Math.max(1, Math.ceil(limit * CEILING_HEADROOM)));
        counter.raising = this.ceilings
          .raise(keyId, kind, periodStart, target)
          .then(() => {
            counter.ceiling = Math.max(counter.ceiling, target);
          })
          .finally(() => {
            counter.raising = null;
          });
      }
      await counter.raising;
    }
  }

  async settle(reservation: Reservation, used: number): Promise<void> {
    const counter = this.counters.get(`${reservation.kind}:${reservation.keyId}`);
    // A counter that was reset or moved to a new period no longer owns this reservation.
    if (!counter || counter.periodStart !== reservation.periodStart) return;
    counter.reserved = Math.max(0, counter.reserved - reservation.amount);
    counter.used += used;
  }

  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage> {
    const counter = this.counter(keyId, kind, periodStart, baseline);
    return { used: counter.used, reserved: counter.reserved };
  }

  async reset(keyId: string): Promise<void> {
    this.counters.delete(`quota:${keyId}`);
    this.counters.delete(`budget:${keyId}`);
  }

  /** Total reserved across every counter (0 once all requests have settled). */
  outstanding(): number {
    let total = 0;
    for (const counter of this.counters.values()) total += counter.reserved;
    return total;
  }

  async close(): Promise<void> {
    const entries = [...this.counters.entries()]
      .filter(([, c]) => c.reserved === 0 && c.ceiling > c.used)
      .map(([id, c]) => {
        const [kind, keyId] = id.split(/:(.*)/s) as [CounterKind, string];
        return { keyId, kind, periodStart: c.periodStart, ceiling: c.used };
      });
    if (entries.length > 0) await this.ceilings.lower(entries);
  }
}
