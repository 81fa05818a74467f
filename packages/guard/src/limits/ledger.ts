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

/**
 * Which counter of a subject (a key, an owner or a tenant): the request quota and the spend
 * budget (durable, see above), token and request windows (fixed periods, counted in the store
 * only), and requests in flight (released, not charged, when a reservation expires).
 */
export const COUNTER_KINDS = [
  'quota',
  'budget',
  'tokens:minute',
  'tokens:day',
  'requests:minute',
  'requests:hour',
  'requests:day',
  'requests:month',
  'concurrent',
] as const;
export type CounterKind = (typeof COUNTER_KINDS)[number];

/** Quota and budget keep a durable ceiling; windows and in-flight counts live in the store only. */
export function isDurable(kind: CounterKind): boolean {
  return kind === 'quota' || kind === 'budget';
}

/** An expired reservation of requests in flight is released (the request ended with its instance); any other is charged in full. */
export function releasedOnExpiry(kind: CounterKind): boolean {
  return kind === 'concurrent';
}

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
  /** Whose counter: a key id, or a level's subject (`owner:<tenantId>:<userId>`, `tenant:<tenantId>`). */
  keyId: string;
  kind: CounterKind;
  /** The current period (ms; 0 for counters without periods). */
  periodStart: number;
  limit: number;
  amount: number;
  baseline: CounterBaseline;
  /** Counted as used at once, with nothing to settle (a request counted whatever happens next). */
  commit?: boolean;
}

/** A reservation to settle once the request has finished. */
export interface Reservation {
  readonly keyId: string;
  readonly kind: CounterKind;
  readonly periodStart: number;
  readonly amount: number;
  /** The store's id of the reservation, where it keeps one (Redis), so a settlement can name it. */
  readonly id?: string;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation; used: number; reserved: number }
  | { ok: false; used: number; reserved: number };

/** Several counters reserved in one step: all of them, or none (`refused` is the first that did not fit). */
export type ReserveAllResult =
  | { ok: true; reservations: Reservation[]; counters: CounterUsage[] }
  | { ok: false; refused: number; used: number; reserved: number };

/** A reservation and what the request really used. */
export interface Settlement {
  reservation: Reservation;
  used: number;
}

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
  /**
   * Reserves on several counters at once (a key, its owner and its tenant): either every counter
   * takes its amount or none does, so no counter is held by a request another one refused.
   */
  reserveAll(requests: readonly ReserveRequest[]): Promise<ReserveAllResult>;
  /**
   * Optional: reserveAll() answered without a promise, or undefined when the answer must wait
   * (a durable ceiling to raise first). Only a ledger in this process can offer it.
   */
  reserveAllNow?(requests: readonly ReserveRequest[]): ReserveAllResult | undefined;
  /** Optional: settleAll() without a promise (a ledger in this process). */
  settleAllNow?(settlements: readonly Settlement[]): void;
  /** Ends a reservation: `used` (≤ or, if the request overran its estimate, > amount) is counted. */
  settle(reservation: Reservation, used: number): Promise<void>;
  /** Ends several reservations (in one round trip where the store is remote). */
  settleAll(settlements: readonly Settlement[]): Promise<void>;
  /** Current usage of a counter (starting it from the baseline when unseen). */
  usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage>;
  /** Forgets a key's quota and budget counters (after a usage reset, the database holds the new baseline). */
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

function startFrom(kind: CounterKind, baseline: CounterBaseline, periodStart: number): Counter {
  if (!isDurable(kind)) return { periodStart, used: 0, reserved: 0, ceiling: Number.POSITIVE_INFINITY, raising: null };
  const samePeriod = baseline.periodStart === periodStart;
  const used = samePeriod ? Math.max(baseline.used, baseline.ceiling) : 0;
  return { periodStart, used, reserved: 0, ceiling: used, raising: null };
}

/** One subject's counters by kind. */
type SubjectCounters = Partial<Record<CounterKind, Counter>>;

/** The single-instance ledger: counters in this process, ceilings in the database. */
export class MemoryLedger implements LimitLedger {
  /**
   * By subject (key id or level), then kind: the subject's id string is the cached record's, so
   * its hash is computed once; a composed `${kind}:${keyId}` map key cost a string and its hash on
   * every reservation and settlement.
   */
  private readonly counters = new Map<string, SubjectCounters>();

  constructor(private readonly ceilings: CeilingStore) {}

  private counter(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Counter {
    let subject = this.counters.get(keyId);
    if (!subject) {
      subject = {};
      this.counters.set(keyId, subject);
    }
    let counter = subject[kind];
    if (!counter || counter.periodStart < periodStart) {
      counter = startFrom(kind, baseline, periodStart);
      subject[kind] = counter;
    }
    return counter;
  }

  async reserve(request: ReserveRequest): Promise<ReserveResult> {
    const result = await this.reserveAll([request]);
    if (result.ok) {
      const counter = this.counter(request.keyId, request.kind, request.periodStart, request.baseline);
      return { ok: true, reservation: result.reservations[0], used: counter.used, reserved: counter.reserved };
    }
    return { ok: false, used: result.used, reserved: result.reserved };
  }

  /** The reservation if every counter fits within its ceiling now; -1 - i when counter i needs a raise first. */
  private tryReserve(requests: readonly ReserveRequest[]): ReserveAllResult | number {
    // Checked and taken without an await in between: nothing else runs in this process meanwhile.
    const counters = requests.map((r) => this.counter(r.keyId, r.kind, r.periodStart, r.baseline));
    let raise = -1;
    for (let i = 0; i < requests.length; i += 1) {
      const counter = counters[i];
      const needed = counter.used + counter.reserved + requests[i].amount;
      if (needed > requests[i].limit) return { ok: false, refused: i, used: counter.used, reserved: counter.reserved };
      if (needed > counter.ceiling && raise < 0) raise = i;
    }
    if (raise >= 0) return -1 - raise;
    const reservations = requests.map((r, i) => {
      if (r.commit) counters[i].used += r.amount;
      else counters[i].reserved += r.amount;
      return { keyId: r.keyId, kind: r.kind, periodStart: r.periodStart, amount: r.amount };
    });
    return { ok: true, reservations, counters: counters.map((c) => ({ used: c.used, reserved: c.reserved })) };
  }

  reserveAllNow(requests: readonly ReserveRequest[]): ReserveAllResult | undefined {
    const result = this.tryReserve(requests);
    return typeof result === 'number' ? undefined : result;
  }

  async reserveAll(requests: readonly ReserveRequest[]): Promise<ReserveAllResult> {
    for (;;) {
      const result = this.tryReserve(requests);
      if (typeof result !== 'number') return result;
      const raise = -1 - result;
      await this.raiseCeiling(this.counter(requests[raise].keyId, requests[raise].kind, requests[raise].periodStart, requests[raise].baseline), requests[raise]);
    }
  }

  /** Raises a counter's durable ceiling (one write in flight per counter; others wait for it). */
  private raiseCeiling(counter: Counter, request: ReserveRequest): Promise<void> {
    if (!counter.raising) {
      const { keyId, kind, periodStart, limit, amount } = request;
      const needed = counter.used + counter.reserved + amount;
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
    return counter.raising;
  }

  async settle(reservation: Reservation, used: number): Promise<void> {
    this.settleNow(reservation, used);
  }

  private settleNow(reservation: Reservation, used: number): void {
    const counter = this.counters.get(reservation.keyId)?.[reservation.kind];
    // A counter that was reset or moved to a new period no longer owns this reservation.
    if (!counter || counter.periodStart !== reservation.periodStart) return;
    counter.reserved = Math.max(0, counter.reserved - reservation.amount);
    counter.used += used;
  }

  async settleAll(settlements: readonly Settlement[]): Promise<void> {
    this.settleAllNow(settlements);
  }

  settleAllNow(settlements: readonly Settlement[]): void {
    for (const { reservation, used } of settlements) this.settleNow(reservation, used);
  }

  async usage(keyId: string, kind: CounterKind, periodStart: number, baseline: CounterBaseline): Promise<CounterUsage> {
    const counter = this.counter(keyId, kind, periodStart, baseline);
    return { used: counter.used, reserved: counter.reserved };
  }

  async reset(keyId: string): Promise<void> {
    const subject = this.counters.get(keyId);
    if (!subject) return;
    delete subject.quota;
    delete subject.budget;
  }

  /** Total reserved across every counter (0 once all requests have settled). */
  outstanding(): number {
    let total = 0;
    for (const subject of this.counters.values()) for (const counter of Object.values(subject)) total += counter.reserved;
    return total;
  }

  async close(): Promise<void> {
    const entries: Parameters<CeilingStore['lower']>[0] = [];
    for (const [keyId, subject] of this.counters) {
      for (const kind of COUNTER_KINDS) {
        const c = subject[kind];
        if (c && c.reserved === 0 && c.ceiling > c.used && Number.isFinite(c.ceiling)) entries.push({ keyId, kind, periodStart: c.periodStart, ceiling: c.used });
      }
    }
    if (entries.length > 0) await this.ceilings.lower(entries);
  }
}
