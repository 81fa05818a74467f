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
 * A crash loses what was recorded after the last write that committed began. A write is due at
 * each tick; one that comes due while another runs (a write slower than the interval: a large
 * batch, a busy machine, a database waiting on locks) starts the moment that one ends. So the loss
 * is at most the interval, or the last write if it took longer, plus the write in flight: at most
 * one interval plus two writes (and the event loop's delay of the tick). Limits stay safe through
 * the ledgers' ceilings.
 */
import { ADMITTED_OUTCOMES, dayStart, hourStart, type RefusalEvent, type UnknownKeyAttempt, type UsageEvent, type UsageRecorder } from '@keyward/guard';
import { type Counts, type KeyUsageDelta, newBatchId, type RollupDelta, type UsageBatch, type UsageSink } from './usage-batch';
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
   * After each batch is written: its admitted requests, its refusals of identified keys, and how
   * long the write took (ms).
   */
  onWritten?: (written: { requests: number; refused: number; ms: number }) => void;
  /** Bounds on what waits in memory for a write (request-log rows, client addresses). */
  limits?: Partial<VisibilityLimits>;
  /** When a write takes its batch and the bounds left rows out since the last one. */
  onDropped?: (dropped: DroppedRows) => void;
}

const ADMITTED = new Set<string>(ADMITTED_OUTCOMES);

const zero = (): Counts => ({ requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0 });

function add(target: Counts, ok: number, tokens: number, spend: number): void {
  target.requestsOk += ok;
  target.requestsFailed += 1 - ok;
  target.tokens += tokens;
  target.spendMicroCents += spend;
}

export class UsageBuffer implements UsageRecorder {
  private keys = new Map<string, KeyUsageDelta>();
  /** Rollups by bucket start, then key id. */
  private hourly = new Map<number, Map<string, RollupDelta>>();
  private daily = new Map<number, Map<string, RollupDelta>>();
  private readonly visibility: VisibilityAggregate;
  private readonly lastUsedWritten: WriteTimes;
  /** A batch whose write failed, sent again as it is before anything newer. */
  private unsent: UsageBatch | null = null;
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
    let key = this.keys.get(event.keyId);
    if (!key) {
      key = { keyId: event.keyId, tenantId: event.tenantId, ...zero(), budgetSpend: new Map(), lastUsedAt: null };
      this.keys.set(event.keyId, key);
    }
    add(key, okCount, event.tokens, event.costMicroCents);
    if (event.budgetPeriodStart !== null && event.costMicroCents > 0) {
      key.budgetSpend.set(event.budgetPeriodStart, (key.budgetSpend.get(event.budgetPeriodStart) ?? 0) + event.costMicroCents);
    }
    if (this.lastUsedWritten.due(event.keyId, event.at)) key.lastUsedAt = Math.max(key.lastUsedAt ?? 0, event.at);
    add(this.rollup(this.hourly, event, hourStart(event.at)), okCount, event.tokens, event.costMicroCents);
    add(this.rollup(this.daily, event, dayStart(event.at)), okCount, event.tokens, event.costMicroCents);
    this.visibility.admitted(event);
  }

  /** A refusal of an identified key: its outcome, log row and address; never its usage or quota. */
  refused(event: RefusalEvent): void {
    this.visibility.refused(event);
  }

  /** An attempt that named no key (or came from an address blocked for guessing). */
  unknownKey(attempt: UnknownKeyAttempt): void {
    this.visibility.unknownKey(attempt);
  }

  private rollup(buckets: Map<number, Map<string, RollupDelta>>, event: UsageEvent, bucketStart: number): RollupDelta {
    let bucket = buckets.get(bucketStart);
    if (!bucket) {
      bucket = new Map();
      buckets.set(bucketStart, bucket);
    }
    let rollup = bucket.get(event.keyId);
    if (!rollup) {
      rollup = { keyId: event.keyId, tenantId: event.tenantId, bucketStart, ...zero() };
      bucket.set(event.keyId, rollup);
    }
    return rollup;
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
    // A batch whose write failed goes first, as it was (its id too: if that write committed after
    // all, the database says so and it is not counted twice), then what came since.
    if (this.unsent) {
      if (!(await this.send(this.unsent))) return;
      this.unsent = null;
    }
    if (this.keys.size === 0 && this.visibility.isEmpty()) return;
    const flatten = (buckets: Map<number, Map<string, RollupDelta>>) => [...buckets.values()].flatMap((b) => [...b.values()]);
    const batch: UsageBatch = {
      id: newBatchId(),
      keys: [...this.keys.values()],
      hourly: flatten(this.hourly),
      daily: flatten(this.daily),
      ...this.visibility.take(),
    };
    const dropped = this.visibility.takeDropped();
    if (dropped) this.options.onDropped?.(dropped);
    this.keys = new Map();
    this.hourly = new Map();
    this.daily = new Map();
    if (!(await this.send(batch))) this.unsent = batch;
  }

  /** Writes one batch; false when it failed (told to onError). */
  private async send(batch: UsageBatch): Promise<boolean> {
    const started = performance.now();
    try {
      await this.sink.write(batch);
    } catch (error) {
      this.options.onError?.(error);
      return false;
    }
    for (const key of batch.keys) if (key.lastUsedAt !== null) this.lastUsedWritten.wrote(key.keyId, key.lastUsedAt);
    this.lastUsedWritten.forgetStale();
    this.visibility.written(batch);
    const requests = batch.keys.reduce((sum, key) => sum + key.requestsOk + key.requestsFailed, 0);
    const refused = batch.outcomesDaily.reduce((sum, o) => sum + (ADMITTED.has(o.outcome) ? 0 : o.requests), 0);
    this.options.onWritten?.({ requests, refused, ms: performance.now() - started });
    return true;
  }

  /** Forgets a key's buffered counters (its usage was reset); its history buckets stay. */
  dropCounters(keyId: string): void {
    // Also in a batch waiting to be sent again (had its write committed, the retry changes nothing).
    for (const key of [this.keys.get(keyId), this.unsent?.keys.find((k) => k.keyId === keyId)]) {
      if (!key) continue;
      Object.assign(key, zero());
      key.budgetSpend.clear();
    }
  }

  /** Nothing waits for a write (after a flush: the write succeeded). */
  isEmpty(): boolean {
    return this.unsent === null && this.keys.size === 0 && this.visibility.isEmpty();
  }

  /** Admitted requests buffered and not yet written. */
  pendingRequests(): number {
    let total = 0;
    for (const key of [...this.keys.values(), ...(this.unsent?.keys ?? [])]) total += key.requestsOk + key.requestsFailed;
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
