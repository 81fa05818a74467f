/**
 * Usage under many distinct keys, written at the cost of a few. A UsageBuffer writes each key's
 * rows (counters, hour, day and month rollups, outcomes, models, addresses: about ten) at every
 * write, so when every request names another key (20,000 keys in turn at 3,000 requests/s) each
 * request pays for ten rows. Summed over a longer horizon the same key's rows are written once for
 * many requests; the journal keeps that sum as durable as a write every interval:
 *
 * - **Each interval**, the buffer's batch is written as before when it names few owners (fewer
 *   than `minOwners` keys or addresses: light load, nothing changes). Otherwise it is **appended**
 *   to the journal: one row holding the batch (usageBatchToJournal), its request-log rows (staged:
 *   the log is per request, so folding sums nothing, but moved at the fold sorted by key its rows
 *   cost the index far less; see stageRequestLog) and the process's lease, in one small
 *   transaction. The batch is then added to the **folder**, a second UsageBuffer.
 * - **Every `foldIntervalMs`**, the folder writes its sum like any batch, in one transaction that
 *   also deletes the journal rows it sums and moves their staged request-log rows into the log.
 *   That DELETE must delete every one of them (else the transaction rolls back): a row is applied
 *   exactly when it is deleted, so exactly once, and so are its log rows.
 * - **Another process's rows** are taken over once its lease has lapsed (a crash; the lease is
 *   renewed by every append and every fold, and lasts two fold intervals plus 10 s): a process
 *   that comes back, or any other instance, folds them. Two processes folding the same rows (one
 *   stopped past its lease and resumed) is safe: the later fold's DELETE comes up short, and that
 *   process sums again only the rows still in the journal.
 *
 * A crash loses what it lost before (the buffer's batch not yet appended: at most one interval
 * plus two writes). What changes under many keys is when counters, rollups, reports and the
 * request log show the usage: up to a fold interval later (limits never wait for it: the ledgers
 * count in memory or in Redis). A usage reset drops the key's counters from both buffers and folds at once, so the
 * journal's rows from before it (which still hold the key's old counters) are applied within a
 * write; the same holds for a write in flight without the journal.
 */
import { randomUUID } from 'node:crypto';
import type { RefusalEvent, UnknownKeyAttempt, UsageEvent, UsageRecorder } from '@keyward/guard';
import type { JournalAppend, JournalRow } from '../data/repositories/usage-journal';
import { type UsageBatch, usageBatchFromJournal, usageBatchParts, usageBatchToJournal, type UsageSink } from './usage-batch';
import { UsageBuffer, type UsageBufferOptions } from './usage-buffer';

/** Where journal rows are kept (the app's database: see data/repositories/usage-journal.ts). */
export interface JournalStore {
  append(entry: JournalAppend): Promise<void>;
  /** Those of `ids` still in the journal. */
  rows(ids: readonly string[]): Promise<JournalRow[]>;
  /** Other owners' rows whose lease has lapsed by `now`, at most `limit`. */
  orphans(owner: string, now: number, limit: number): Promise<JournalRow[]>;
  /** Deletes the rows, all of them or none (failing with isUnexpectedChanges). */
  consume(ids: readonly string[]): Promise<void>;
  renewLease(owner: string, until: number): Promise<void>;
  releaseLease(owner: string): Promise<void>;
}

export interface UsageJournalOptions extends UsageBufferOptions {
  /** How often the folder writes (ms); 0: nothing is journaled, every batch is written at once. */
  foldIntervalMs: number;
  /** A batch naming fewer owners (keys, or addresses of attempts naming none) is written at once. */
  minOwners: number;
  /** Owners a fold writes at most in one transaction (default FOLD_PART_OWNERS; tests make parts small). */
  partOwners?: number;
  /** Whether a failure is the database refusing the batch's data (as UsageBufferOptions.refusedFor). */
  refusedFor?: (error: unknown) => string | null;
  /** Whether a write failed because its batch id was stored already (a retry after a lost commit answer). */
  alreadyWritten: (error: unknown) => boolean;
  /** Whether a write failed because a statement changed other rows than it expected (isUnexpectedChanges). */
  unexpectedChanges: (error: unknown) => boolean;
  /**
   * A fold found that another process applied some of its rows first (this one was paused past its
   * lease): `gone` rows were, `left` are summed again and written.
   */
  onTakenOver?: (rows: { gone: number; left: number }) => void;
  /** After each fold's write: the admitted requests it applied, the journal rows it deleted, how long it took (ms). */
  onFolded?: (folded: { requests: number; rows: number; ms: number }) => void;
  clock?: () => number;
}

/** Owners (keys) a fold writes at most in one transaction; a larger one is written in parts. */
const FOLD_PART_OWNERS = 2_500;

/** Orphaned rows taken over per fold at most (each holds one interval's batch). */
const ADOPT_PER_FOLD = 100;

/**
 * The folder's bounds: it sums a fold interval of batches, each already within the buffer's bounds;
 * only the (key, address) pairs could grow past them (a key used from many addresses).
 */
const FOLDER_LIMITS = { maxClientAddresses: 200_000 };

/** Journaled usage (see the module comment): the buffer in front, the folder behind. */
export class UsageJournal implements UsageRecorder {
  /** Who this process's journal rows belong to (a new id per process). */
  readonly owner = randomUUID();
  private readonly buffer: UsageBuffer;
  private readonly folder: UsageBuffer;
  /** Journal rows the folder holds (absorbed, not yet consumed). */
  private readonly held = new Set<string>();
  private readonly clock: () => number;
  private readonly leaseMs: number;
  private readonly minOwners: number;
  private timer: NodeJS.Timeout | null = null;
  private folding: Promise<void> | null = null;

  constructor(
    private readonly sink: UsageSink,
    private readonly store: JournalStore,
    private readonly options: UsageJournalOptions,
  ) {
    this.clock = options.clock ?? Date.now;
    this.leaseMs = 2 * options.foldIntervalMs + 10_000;
    this.minOwners = options.minOwners;
    this.buffer = new UsageBuffer({ write: (batch) => this.append(batch) }, options);
    const { onError, refusedFor, onSetAside, lastUsedEveryMs } = options;
    this.folder = new UsageBuffer(
      { write: (batch) => this.fold(batch) },
      {
        onError,
        refusedFor,
        onSetAside,
        lastUsedEveryMs,
        limits: FOLDER_LIMITS,
        onWritten: ({ requests, journalRows, ms }) => options.onFolded?.({ requests, rows: journalRows, ms }),
      },
    );
  }

  record(event: UsageEvent): void {
    this.buffer.record(event);
  }

  refused(event: RefusalEvent): void {
    this.buffer.refused(event);
  }

  unknownKey(attempt: UnknownKeyAttempt): void {
    this.buffer.unknownKey(attempt);
  }

  /** Starts the buffer's writes, and the folds (each first takes over lapsed owners' rows). */
  start(): void {
    this.buffer.start();
    if (this.timer || this.options.foldIntervalMs === 0) return;
    this.timer = setInterval(() => {
      this.foldNow().catch(() => undefined);
    }, this.options.foldIntervalMs);
    this.timer.unref();
  }

  /** Writes or appends what the buffer holds, then folds (everything recorded reaches the tables). */
  async flush(): Promise<void> {
    await this.buffer.flush();
    await this.folder.flush();
  }

  /** Writes or appends what the buffer holds, without folding (what the buffer's timer does). */
  appendNow(): Promise<void> {
    return this.buffer.flush();
  }

  /**
   * One fold: the lease renewed while rows are held, lapsed owners' rows taken over, and the
   * folder's sum written. Folds asked for while one runs join it.
   */
  foldNow(): Promise<void> {
    this.folding ??= (async () => {
      try {
        if (this.held.size > 0) await this.store.renewLease(this.owner, this.clock() + this.leaseMs);
        await this.adoptOrphans();
        await this.folder.flush();
      } catch (error) {
        this.options.onError?.(error);
        throw error;
      } finally {
        this.folding = null;
      }
    })();
    return this.folding;
  }

  /** Forgets a key's buffered counters (its usage was reset), and folds what the journal holds at once. */
  dropCounters(keyId: string): void {
    this.buffer.dropCounters(keyId);
    this.folder.dropCounters(keyId);
    if (this.held.size > 0) this.folder.flush().catch(() => undefined);
  }

  /** Nothing waits to be written or folded. */
  isEmpty(): boolean {
    return this.buffer.isEmpty() && this.folder.isEmpty();
  }

  /** Admitted requests recorded and not durably written yet (neither written nor journaled): what a crash would lose. */
  pendingRequests(): number {
    return this.buffer.pendingRequests();
  }

  /** Admitted requests journaled and not yet folded into counters and rollups. */
  foldingRequests(): number {
    return this.folder.pendingRequests();
  }

  /** Stops both; the buffer's last batch is written or appended, then the folder's sum written, then the lease ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.buffer.stop();
    await this.folding?.catch(() => undefined);
    await this.folder.stop();
    await this.store.releaseLease(this.owner).catch((error) => this.options.onError?.(error));
  }

  /** The buffer's sink: a batch of few owners written at once, any other appended and handed to the folder. */
  private async append(batch: UsageBatch): Promise<void | UsageBatch[]> {
    if (this.options.foldIntervalMs === 0 || ownerCount(batch) < this.minOwners) return this.sink.write(batch);
    try {
      await this.store.append({
        id: batch.id,
        owner: this.owner,
        payload: usageBatchToJournal(batch),
        requestLog: batch.requestLog,
        leaseUntil: this.clock() + this.leaseMs,
      });
    } catch (error) {
      if (!this.options.alreadyWritten(error)) throw error;
      // An earlier send committed although its answer was lost: held, unless it is gone (folded).
      if (this.held.has(batch.id) || (await this.store.rows([batch.id])).length === 0) return;
    }
    this.hold({ ...batch, requestLog: [], journalIds: [batch.id] });
  }

  private hold(batch: UsageBatch): void {
    for (const id of batch.journalIds ?? []) this.held.add(id);
    this.folder.absorb(batch);
  }

  /** Takes over rows whose owner's lease has lapsed (a crashed process's), up to ADOPT_PER_FOLD. */
  private async adoptOrphans(): Promise<void> {
    const rows = await this.store.orphans(this.owner, this.clock(), ADOPT_PER_FOLD);
    for (const row of rows) {
      if (this.held.has(row.id)) continue;
      let batch: UsageBatch;
      try {
        batch = usageBatchFromJournal(row.id, row.payload);
      } catch (error) {
        // Written by a version that stores another shape: left for a process that reads it.
        this.options.onError?.(error);
        continue;
      }
      this.hold({ ...batch, journalIds: [row.id] });
    }
  }

  /**
   * The folder's sink. The batch's write deletes its journal rows; when another process applied
   * some first, the batch becomes the sum of those left (rebuilt), and is written again. When the
   * database refuses its data, its rows are first consumed in a write of their own (they become
   * this process's usage, which the folder then splits and sets aside as any buffer does).
   *
   * A batch of more than FOLD_PART_OWNERS owners is written in parts, so that no write plans and
   * sends more than a few thousand keys' rows at once (a fold of 20,000 keys in one write took the
   * JS heap about 100 MB above what the folder holds): the first part's transaction deletes the batch's journal rows
   * and appends one row per other part, and those parts are answered to be written next, each
   * deleting its own row. A crash between parts leaves them in the journal, as durable as the rows
   * they came from.
   */
  private async fold(batch: UsageBatch): Promise<UsageBatch[]> {
    for (;;) {
      const ids = batch.journalIds ?? [];
      const whole = { ...batch };
      const next = ids.length > 0 ? this.inParts(batch) : [];
      try {
        await this.sink.write(batch);
        this.release(ids);
        for (const part of next) this.held.add(part.id);
        return next;
      } catch (error) {
        if (ids.length === 0) throw error;
        // Written as it was (not in parts) when it is tried again.
        replaceBatch(batch, whole);
        if (this.options.unexpectedChanges(error)) {
          if (await this.rebuild(batch)) continue;
          return [];
        }
        if ((this.options.refusedFor?.(error) ?? null) === null) throw error;
        try {
          await this.store.consume(ids);
        } catch (consumeError) {
          if (!this.options.unexpectedChanges(consumeError)) throw consumeError;
          if (await this.rebuild(batch)) continue;
          return [];
        }
        this.release(ids);
        delete batch.journalIds;
        throw error;
      }
    }
  }

  /**
   * A batch over FOLD_PART_OWNERS (partOwners) owners becomes its first part, carrying the others as journal
   * rows to append (journalRest); the others are returned, each carrying its own row.
   */
  private inParts(batch: UsageBatch): UsageBatch[] {
    const [first, ...rest] = usageBatchParts(batch, this.options.partOwners ?? FOLD_PART_OWNERS);
    if (rest.length === 0) return [];
    replaceBatch(batch, {
      ...first,
      journalIds: batch.journalIds,
      journalRest: rest.map((part) => ({ id: part.id, owner: this.owner, payload: usageBatchToJournal(part) })),
    });
    return rest.map((part) => ({ ...part, journalIds: [part.id] }));
  }

  /**
   * Another process applied some of the batch's rows: the batch (the folder's own object, so a
   * later attempt sends what is written here) becomes the sum of the rows still in the journal,
   * with a new id. False when none is left: nothing to write.
   */
  private async rebuild(batch: UsageBatch): Promise<boolean> {
    const ids = batch.journalIds ?? [];
    const left = await this.store.rows(ids);
    const leftIds = new Set(left.map((row) => row.id));
    this.release(ids.filter((id) => !leftIds.has(id)));
    this.options.onTakenOver?.({ gone: ids.length - left.length, left: left.length });
    // Nothing of it left: nothing is this process's to write any more.
    replaceBatch(batch, UsageBuffer.sum(left.map((row) => ({ ...usageBatchFromJournal(row.id, row.payload), journalIds: [row.id] }))));
    return left.length > 0;
  }

  private release(ids: readonly string[]): void {
    for (const id of ids) this.held.delete(id);
  }
}

/**
 * About the number of owners a batch names: its rows of outcome per key and day (about one per
 * key, admitted or refused) and its addresses of attempts naming no key.
 */
function ownerCount(batch: UsageBatch): number {
  return batch.outcomesDaily.length + batch.unknownKeys.length;
}

/** Makes `batch` (an object its buffer holds) hold `content` instead, journal fields included. */
function replaceBatch(batch: UsageBatch, content: UsageBatch): void {
  delete batch.journalIds;
  delete batch.journalRest;
  Object.assign(batch, content);
}
