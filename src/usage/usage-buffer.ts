/**
 * Usage accounting off the request path: finished requests are added up in memory per key and per
 * hour/day bucket, and written in one transaction every interval (default 1 s), one write at a
 * time. Refusals of identified keys and attempts naming no key are added up beside them (outcome
 * counts, request log, client addresses: see visibility-aggregate.ts) and written in the same
 * transaction; they never touch a key's usage, quota or spend. A batch whose write failed is sent
 * again as it was, with its id, before anything newer: when the failure was only the answer (the
 * commit went through, the connection did not), the database recognises the id and nothing is
 * counted twice. stop() writes what is left (graceful shutdown).
 *
 * A batch the database refuses for what it holds (a data error: a number out of a column's range,
 * a constraint; see the refusedFor option) would fail the same way every time, and being first,
 * hold back every write after it. So it is split in two by key, and each half sent on its own,
 * until the part refused is one key's (or one unknown address's): that part is sent again at the
 * next writes, and after three refusals in a row set aside (onSetAside: logged with its counts,
 * not written). Everything else is written. A refused owner's usage in later batches is sent apart
 * from the start (until a part of it is written), so a key the database keeps refusing does not
 * have every batch refused and split again.
 *
 * A crash loses what was recorded after the last write that committed began. A write is due at
 * each tick; one that comes due while another runs (a write slower than the interval: a large
 * batch, a busy machine, a database waiting on locks) starts the moment that one ends. So the loss
 * is at most the interval, or the last write if it took longer, plus the write in flight: at most
 * one interval plus two writes (and the event loop's delay of the tick). Limits stay safe through
 * the ledgers' ceilings.
 */
import { ADMITTED_OUTCOMES, dayStart, hourStart, type RefusalEvent, type UnknownKeyAttempt, type UsageEvent, type UsageRecorder } from '@keyward/guard';
import { addBudgetSpend, type Counts, type KeyUsageDelta, newBatchId, partitionUsageBatch, type RollupDelta, splitUsageBatch, type UsageBatch, type UsageSink, usageBatchOwners } from './usage-batch';
import { type HeldRows, heldRow, holdRow, pushHeldRows } from './held-rows';
import { DEFAULT_VISIBILITY_LIMITS, type DroppedRows, VisibilityAggregate, type VisibilityLimits } from './visibility-aggregate';
import { WriteTimes } from './write-times';

export type { Counts, KeyUsageDelta, RollupDelta, UsageBatch, UsageSink } from './usage-batch';

export interface UsageBufferOptions {
  /** Default 1000 ms. */
  intervalMs?: number;
  /** lastUsedAt is written at most this often per key, and lastSeenAt per (key, client address) (default 60 s). */
  lastUsedEveryMs?: number;
  onError?: (error: unknown) => void;
  /**
   * After each batch is written: its admitted requests, its refusals of identified keys, the usage
   * journal rows it consumed, and how long the write took (ms).
   */
  onWritten?: (written: { requests: number; refused: number; journalRows: number; ms: number }) => void;
  /** Bounds on what waits in memory for a write (request-log rows, client addresses). */
  limits?: Partial<VisibilityLimits>;
  /** When a write takes its batch and the bounds left rows out since the last one. */
  onDropped?: (dropped: DroppedRows) => void;
  /**
   * Why the database refused a write for what the batch holds (sending it again fails the same
   * way), or null when it may succeed later (an outage). Without it, every failure is an outage.
   */
  refusedFor?: (error: unknown) => string | null;
  /** One key's part of a batch, refused by the database every time it was sent: not written. */
  onSetAside?: (part: UsageBatch, reason: string) => void;
}

/** Times one key's part of a batch is refused, at consecutive writes, before it is set aside. */
export const REFUSALS_BEFORE_SET_ASIDE = 3;

/** Owners whose refusal is remembered at most (the oldest is forgotten first). */
const MAX_REFUSED_OWNERS = 1000;

/** A batch waiting to be sent again, and how many times in a row the database refused its data. */
interface Unsent {
  batch: UsageBatch;
  refusals: number;
}

const ADMITTED = new Set<string>(ADMITTED_OUTCOMES);

const zero = (): Counts => ({ requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0 });

function add(target: Counts, ok: number, tokens: number, spend: number): void {
  target.requestsOk += ok;
  target.requestsFailed += 1 - ok;
  target.tokens += tokens;
  target.spendMicroCents += spend;
}

function addCounts(target: Counts, counts: Counts): void {
  target.requestsOk += counts.requestsOk;
  target.requestsFailed += counts.requestsFailed;
  target.tokens += counts.tokens;
  target.spendMicroCents += counts.spendMicroCents;
}

/**
 * One key's part of the batch being added up: its counters (null until it has admitted usage) and
 * its hour and day rollups. A record finds all of them with one lookup: with 20,000 keys in turn
 * every record starts a key's part, and five maps (keys, then bucket and key for hours and for
 * days) cost it five insertions and as many rehashes as the maps grew. Its first hour and day
 * rollups are held on it, any others in arrays (see held-rows.ts).
 */
interface KeyTally {
  usage: KeyUsageDelta | null;
  hour: RollupDelta | null;
  day: RollupDelta | null;
  moreHours: RollupDelta[] | null;
  moreDays: RollupDelta[] | null;
  /** When the key's lastUsedAt falls due (WriteTimes.dueAt), read once per batch: hot keys skip the lookup. */
  lastUsedDueAt: number | undefined;
}

/** Where a tally holds a period's rollups. */
type RollupPeriod = HeldRows<RollupDelta, 'hour' | 'day', 'moreHours' | 'moreDays'>;
const HOURS: RollupPeriod = { first: 'hour', more: 'moreHours' };
const DAYS: RollupPeriod = { first: 'day', more: 'moreDays' };

/** The tally's counters, started at zero on first use. */
function usageOf(tally: KeyTally, keyId: string, tenantId: string): KeyUsageDelta {
  tally.usage ??= { keyId, tenantId, requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0, budgetPeriod: null, budgetPeriodSpend: 0, lastUsedAt: null };
  return tally.usage;
}

/** The tally's rollup for a bucket of a period (a new row when there is none). */
function rollupOf(tally: KeyTally, period: RollupPeriod, keyId: string, tenantId: string, bucketStart: number): RollupDelta {
  const held = heldRow(tally, period, bucketStart);
  if (held) return held;
  const row = { keyId, tenantId, bucketStart, requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0 };
  holdRow(tally, period, row);
  return row;
}

export class UsageBuffer implements UsageRecorder {
  /** By key id, in the order keys were first added since the last batch was taken. */
  private tallies = new Map<string, KeyTally>();
  private readonly visibility: VisibilityAggregate;
  private readonly lastUsedWritten: WriteTimes;
  /** Batches whose write failed, sent again as they are, in order, before anything newer. */
  private unsent: Unsent[] = [];
  /** Usage journal rows absorbed since the last batch was taken (see absorb). */
  private journalIds: string[] = [];
  /** Owners (see usageBatchOwners) whose part the database refused, and none of it written since. */
  private readonly refusedOwners = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  /** A write waiting for the one in flight to end; flushes asked for meanwhile join it. */
  private queued: Promise<void> | null = null;
  private readonly intervalMs: number;
  private readonly lastUsedEveryMs: number;

  constructor(
    private readonly sink: UsageSink,
    private readonly options: UsageBufferOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.lastUsedEveryMs = options.lastUsedEveryMs ?? 60_000;
    this.lastUsedWritten = new WriteTimes(this.lastUsedEveryMs);
    this.visibility = new VisibilityAggregate({ ...DEFAULT_VISIBILITY_LIMITS, ...options.limits }, this.lastUsedEveryMs);
  }

  record(event: UsageEvent): void {
    const okCount = event.ok ? 1 : 0;
    const tally = this.tally(event.keyId);
    const key = usageOf(tally, event.keyId, event.tenantId);
    add(key, okCount, event.tokens, event.costMicroCents);
    if (event.budgetPeriodStart !== null && event.costMicroCents > 0) addBudgetSpend(key, event.budgetPeriodStart, event.costMicroCents);
    tally.lastUsedDueAt ??= this.lastUsedWritten.dueAt(event.keyId);
    if (event.at >= tally.lastUsedDueAt) key.lastUsedAt = Math.max(key.lastUsedAt ?? 0, event.at);
    add(rollupOf(tally, HOURS, event.keyId, event.tenantId, hourStart(event.at)), okCount, event.tokens, event.costMicroCents);
    add(rollupOf(tally, DAYS, event.keyId, event.tenantId, dayStart(event.at)), okCount, event.tokens, event.costMicroCents);
    this.visibility.admitted(event);
  }

  /**
   * Adds up a whole batch taken from another buffer, as if its events had been recorded here, and
   * the journal rows it carries (see usage-journal.ts: the folder sums up the batches appended to
   * the journal). Its lastUsedAt and keepLastSeen marks are kept as the other buffer decided them.
   */
  absorb(batch: UsageBatch): void {
    for (const delta of batch.keys) {
      const key = usageOf(this.tally(delta.keyId), delta.keyId, delta.tenantId);
      addCounts(key, delta);
      if (delta.budgetPeriod !== null) addBudgetSpend(key, delta.budgetPeriod, delta.budgetPeriodSpend);
      if (delta.lastUsedAt !== null) key.lastUsedAt = Math.max(key.lastUsedAt ?? 0, delta.lastUsedAt);
    }
    for (const r of batch.hourly) addCounts(rollupOf(this.tally(r.keyId), HOURS, r.keyId, r.tenantId, r.bucketStart), r);
    for (const r of batch.daily) addCounts(rollupOf(this.tally(r.keyId), DAYS, r.keyId, r.tenantId, r.bucketStart), r);
    this.visibility.absorb(batch);
    if (batch.journalIds) this.journalIds.push(...batch.journalIds);
  }

  private tally(keyId: string): KeyTally {
    let tally = this.tallies.get(keyId);
    if (!tally) {
      tally = { usage: null, hour: null, day: null, moreHours: null, moreDays: null, lastUsedDueAt: undefined };
      this.tallies.set(keyId, tally);
    }
    return tally;
  }

  /** A refusal of an identified key: its outcome, log row and address; never its usage or quota. */
  refused(event: RefusalEvent): void {
    this.visibility.refused(event);
  }

  /** An attempt that named no key (or came from an address blocked for guessing). */
  unknownKey(attempt: UnknownKeyAttempt): void {
    this.visibility.unknownKey(attempt);
  }

  /** Starts writing every interval. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.flush().catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref();
  }

  /**
   * Writes everything buffered so far, one write at a time. A write asked for while another runs
   * starts as soon as that one ends; further asks join it (it takes its batch when it starts, so it
   * carries their usage too), so ticks during a slow write never queue up behind it.
   */
  flush(): Promise<void> {
    if (this.queued) return this.queued;
    const start = () => {
      this.queued = null;
      return this.writeOnce();
    };
    // A throwing hook rejects its own flush, never the writes after it.
    const queued = this.flushing.then(start, start);
    this.queued = queued;
    this.flushing = queued;
    return queued;
  }

  private async writeOnce(): Promise<void> {
    // Batches whose write failed go first, as they were (their ids too: if such a write committed
    // after all, the database says so and it is not counted twice), then what came since.
    let took = false;
    let next = 0;
    for (;;) {
      if (next === this.unsent.length) {
        if (took || this.nothingTaken()) return;
        for (const batch of this.refusedApart(this.takeBatch())) this.unsent.push({ batch, refusals: 0 });
        took = true;
      }
      const entry = this.unsent[next];
      const started = performance.now();
      const sent = await this.send(entry.batch);
      if (!('failure' in sent)) {
        // Out of the queue before the hooks run: a throwing hook never has the batch written again.
        // What the sink answered to write next goes in its place, before anything newer.
        this.unsent.splice(next, 1, ...sent.next.map((batch) => ({ batch, refusals: 0 })));
        if (this.refusedOwners.size > 0) for (const owner of usageBatchOwners(entry.batch)) this.refusedOwners.delete(owner);
        this.written(entry.batch, performance.now() - started);
        continue;
      }
      const { failure } = sent;
      const reason = this.options.refusedFor?.(failure) ?? null;
      // An outage: everything waits for the next write, in order.
      if (reason === null) return;
      // Refused for what it holds, so its transaction wrote nothing: its halves go with new ids.
      const halves = splitUsageBatch(entry.batch);
      if (halves) {
        this.unsent.splice(next, 1, { batch: halves[0], refusals: 0 }, { batch: halves[1], refusals: 0 });
        continue;
      }
      entry.refusals += 1;
      this.rememberRefused(usageBatchOwners(entry.batch)[0]);
      if (entry.refusals >= REFUSALS_BEFORE_SET_ASIDE) {
        this.unsent.splice(next, 1);
        this.options.onSetAside?.(entry.batch, reason);
        continue;
      }
      // One key's part, sent again at the next write; what comes after it is not held back.
      next += 1;
    }
  }

  /** Nothing was recorded or absorbed since the last batch was taken. */
  private nothingTaken(): boolean {
    return this.tallies.size === 0 && this.visibility.isEmpty() && this.journalIds.length === 0;
  }

  /**
   * The batch, with the usage of owners refused before sent apart after the rest (see
   * refusedOwners). A batch carrying journal rows goes whole: its write consumes them all or none
   * (its sink makes it the process's own before a refusal has it split; see usage-journal.ts).
   */
  private refusedApart(batch: UsageBatch): UsageBatch[] {
    if (this.refusedOwners.size === 0 || (batch.journalIds?.length ?? 0) > 0) return [batch];
    const refused = new Set(usageBatchOwners(batch).filter((owner) => this.refusedOwners.has(owner)));
    if (refused.size === 0) return [batch];
    const [apart, rest] = partitionUsageBatch(batch, refused);
    return usageBatchOwners(rest).length > 0 ? [rest, apart] : [apart];
  }

  private rememberRefused(owner: string): void {
    this.refusedOwners.delete(owner);
    this.refusedOwners.add(owner);
    if (this.refusedOwners.size > MAX_REFUSED_OWNERS) this.refusedOwners.delete(this.refusedOwners.values().next().value as string);
  }

  /** The batches added up as one, with an id of its own and the journal rows they carry. */
  static sum(batches: readonly UsageBatch[]): UsageBatch {
    const buffer = new UsageBuffer({ write: async () => undefined }, { limits: { maxLogRows: Number.POSITIVE_INFINITY, maxClientAddresses: Number.POSITIVE_INFINITY } });
    for (const batch of batches) buffer.absorb(batch);
    return buffer.takeBatch();
  }

  /** What was added up since the last batch was taken, as a batch (the buffer starts over). */
  private takeBatch(): UsageBatch {
    const keys: KeyUsageDelta[] = [];
    const hourly: RollupDelta[] = [];
    const daily: RollupDelta[] = [];
    for (const tally of this.tallies.values()) {
      if (tally.usage) keys.push(tally.usage);
      pushHeldRows(tally, HOURS, hourly);
      pushHeldRows(tally, DAYS, daily);
    }
    const batch: UsageBatch = { id: newBatchId(), keys, hourly, daily, ...this.visibility.take() };
    if (this.journalIds.length > 0) batch.journalIds = this.journalIds;
    this.journalIds = [];
    const dropped = this.visibility.takeDropped();
    if (dropped) this.options.onDropped?.(dropped);
    this.tallies = new Map();
    return batch;
  }

  /** Writes one batch: the batches its sink answered to write next, or the error (told to onError). */
  private async send(batch: UsageBatch): Promise<{ next: UsageBatch[] } | { failure: unknown }> {
    try {
      return { next: (await this.sink.write(batch)) ?? [] };
    } catch (error) {
      this.options.onError?.(error);
      return { failure: error ?? new Error('the usage write failed') };
    }
  }

  /** What follows a batch's write: the write times it moved, and onWritten. */
  private written(batch: UsageBatch, ms: number): void {
    for (const key of batch.keys) if (key.lastUsedAt !== null) this.lastUsedWritten.wrote(key.keyId, key.lastUsedAt);
    this.lastUsedWritten.forgetStale();
    this.visibility.written(batch);
    const requests = batch.keys.reduce((sum, key) => sum + key.requestsOk + key.requestsFailed, 0);
    const refused = batch.outcomesDaily.reduce((sum, o) => sum + (ADMITTED.has(o.outcome) ? 0 : o.requests), 0);
    this.options.onWritten?.({ requests, refused, journalRows: batch.journalIds?.length ?? 0, ms });
  }

  /** Forgets a key's buffered counters (its usage was reset); its history buckets stay. */
  dropCounters(keyId: string): void {
    // Also in a batch waiting to be sent again (had its write committed, the retry changes nothing).
    for (const key of [this.tallies.get(keyId)?.usage, ...this.unsent.map((u) => u.batch.keys.find((k) => k.keyId === keyId))]) {
      if (!key) continue;
      Object.assign(key, zero());
      key.budgetPeriod = null;
      key.budgetPeriodSpend = 0;
    }
  }

  /** Nothing waits for a write (after a flush: the write succeeded). */
  isEmpty(): boolean {
    return this.unsent.length === 0 && this.nothingTaken();
  }

  /** Admitted requests buffered and not yet written. */
  pendingRequests(): number {
    let total = 0;
    for (const { usage } of this.tallies.values()) if (usage) total += usage.requestsOk + usage.requestsFailed;
    for (const key of this.unsent.flatMap((u) => u.batch.keys)) total += key.requestsOk + key.requestsFailed;
    return total;
  }

  /** Stops the timer and writes what is left, retrying a few times (graceful shutdown). */
  async stop(attempts = 5): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (let i = 0; i < attempts; i++) {
      await this.flush();
      if (this.isEmpty()) return;
      await new Promise((resolve) => setTimeout(resolve, 200 * (i + 1)));
    }
    throw new Error(`usage of ${this.pendingRequests()} requests could not be written`);
  }
}
