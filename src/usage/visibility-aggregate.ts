/**
 * The visibility half of the usage buffer: what every request of an identified key did (outcome
 * counts per key per hour and day, model spend per key per day, the request log, the client
 * addresses of each key) and attempts that named no key (per client address per day), added up in
 * memory until the next write.
 *
 * Outcome counts are exact: every request lands in its rollups, whatever the bounds below. What a
 * burst (or a database that is away, while batches wait) can hold in memory is bounded where the
 * number of rows follows the number of requests or values a client chooses:
 * - request-log rows: at most `maxLogRows` wait for a write; rows past it are dropped and counted;
 * - client addresses: at most `maxClientAddresses` (key, address) pairs wait; requests from new
 *   pairs past it are left out of the address list and counted;
 * - unknown-key attempts: at most `maxUnknownAddresses` addresses get rows of their own per UTC
 *   day and process; attempts from further addresses (a guesser spraying fresh IPv6 addresses) are
 *   counted under the address `other`, so totals stay exact and the table grows by a bounded
 *   number of rows a day.
 *
 * A pair's stored lastSeenAt is moved at most once per `lastSeenEveryMs` (a minute) by each
 * process, as a key's lastUsedAt is: the column is in two indexes, and SQLite moves its entries
 * whenever it is set (15 µs of the writer's time per pair and flush at 1M keys, 8.6 without).
 * Request counts are written every time.
 */
import { dayStart, hourStart, type RefusalEvent, type RequestFacts, type RequestOutcome, type UnknownKeyAttempt, type UsageEvent } from '@keyward/guard';
import type {
  ClientAddressDelta,
  ModelDelta,
  OutcomeDelta,
  RequestLogRow,
  UnknownKeyDelta,
  VisibilityBatch,
} from './usage-batch';
import { findBucketRow, type HeldRows, heldRow, holdRow, isBucketRow, pushHeldRows } from './held-rows';
import { WriteTimes } from './write-times';

export interface VisibilityLimits {
  /** Request-log rows waiting for a write (default 10,000: 10,000 requests/s at the 1 s interval). */
  maxLogRows: number;
  /** (key, client address) pairs waiting for a write (default 10,000). */
  maxClientAddresses: number;
  /** Addresses with unknown-key attempts counted apart per UTC day (default 10,000). */
  maxUnknownAddresses: number;
}

/** The bounds a UsageBuffer uses unless told otherwise. */
export const DEFAULT_VISIBILITY_LIMITS: VisibilityLimits = { maxLogRows: 10_000, maxClientAddresses: 10_000, maxUnknownAddresses: 10_000 };

/** What the bounds left out since the last time it was asked. */
export interface DroppedRows {
  requestLogRows: number;
  clientAddressRequests: number;
}

/** Pairs whose lastSeenAt writes are remembered (the oldest are forgotten first: written again, no harm). */
const MAX_LAST_SEEN_WRITTEN = 100_000;

/** The address unknown-key attempts past `maxUnknownAddresses` are counted under. */
export const OTHER_ADDRESSES = 'other';

/** Model and chatbot names come from the client: stored at most this long. */
const MAX_NAME = 200;

const clip = (text: string | null): string | null => (text === null ? null : text.slice(0, MAX_NAME));

// Every request merges into one key's rows, found with one lookup by key id: the id string comes
// from the cached key record, so its hash is computed once, and no map key is composed per request
// (composing and hashing `${keyId}\u0000${bucket}\u0000${outcome}` four times a request cost more
// than the rest of the merge). One map rather than one per kind of row: with 20,000 keys in turn
// every request starts a key's rows, and each map cost an insertion and its rehashes as it grew.
// Under a key, outcome rows are few (buckets within a write × outcome codes) and found by a scan;
// models and addresses, which a client chooses, get maps past the first. A row object is made only
// for a new row, so the common case allocates nothing.
//
// The first outcome row of the hour and of the day are held on the key's rows, any others in
// arrays (see held-rows.ts); the first model row too, others in a map by model.

/** One key's rows since the last take(). */
interface KeyRows {
  /** The first outcome row of the hour and of the day, and the others (another outcome, a next hour or day). */
  outcomeHour: OutcomeDelta | null;
  outcomeDay: OutcomeDelta | null;
  moreOutcomeHours: OutcomeDelta[] | null;
  moreOutcomeDays: OutcomeDelta[] | null;
  /** The first model row (a model, a day and an outcome), and the others by model. */
  model: ModelDelta | null;
  moreModels: Map<string, ModelDelta[]> | null;
  /** The first address's row, and further addresses' by address (as models). */
  address: ClientAddressDelta | null;
  moreAddresses: Map<string, ClientAddressDelta> | null;
}

/** Where a key's rows hold a period's first outcome row and its others. */
type OutcomePeriod = HeldRows<OutcomeDelta, 'outcomeHour' | 'outcomeDay', 'moreOutcomeHours' | 'moreOutcomeDays'>;
const OUTCOME_HOURS: OutcomePeriod = { first: 'outcomeHour', more: 'moreOutcomeHours' };
const OUTCOME_DAYS: OutcomePeriod = { first: 'outcomeDay', more: 'moreOutcomeDays' };

/** Adds up outcomes, model spend, log rows, addresses and unknown-key attempts until take(). */
export class VisibilityAggregate {
  /** By key id, in the order keys were first added since the last take(). */
  private keys = new Map<string, KeyRows>();
  private requestLog: RequestLogRow[] = [];
  private clientAddressCount = 0;
  private unknownKeys = new Map<string, UnknownKeyDelta>();
  private dropped: DroppedRows = { requestLogRows: 0, clientAddressRequests: 0 };
  /** Addresses given rows of their own on `unknownDay` (by this process). */
  private unknownAddresses = new Set<string>();
  private unknownDay = 0;
  /** When this process last moved each pair's stored lastSeenAt. */
  private readonly lastSeenWritten: WriteTimes;

  constructor(
    private readonly limits: VisibilityLimits = DEFAULT_VISIBILITY_LIMITS,
    lastSeenEveryMs = 60_000,
  ) {
    this.lastSeenWritten = new WriteTimes(lastSeenEveryMs, MAX_LAST_SEEN_WRITTEN);
  }

  /** An admitted request (ok, failed or client_closed), with what it used. */
  admitted(event: UsageEvent): void {
    const rows = this.request(event, event.outcome, event.tokens, event.costMicroCents);
    const model = clip(event.model);
    if (!model) return;
    const { keyId, outcome } = event;
    const bucketStart = dayStart(event.at);
    const current = modelRow(rows, model, bucketStart, outcome);
    if (current) {
      current.requests += 1;
      current.tokens += event.tokens;
      current.spendMicroCents += event.costMicroCents;
    } else {
      addModel(rows, { keyId, tenantId: event.tenantId, bucketStart, model, outcome, requests: 1, tokens: event.tokens, spendMicroCents: event.costMicroCents });
    }
  }

  /** A refusal of an identified key: counted in outcomes, the log and addresses, never in usage. */
  refused(event: RefusalEvent): void {
    this.request(event, event.outcome, 0, 0);
  }

  /** An attempt that named no key, or came from an address blocked for guessing. */
  unknownKey(attempt: UnknownKeyAttempt): void {
    const day = dayStart(attempt.at);
    if (day > this.unknownDay) {
      this.unknownDay = day;
      this.unknownAddresses.clear();
    }
    let ip = attempt.ip;
    if (!this.unknownAddresses.has(ip)) {
      if (day === this.unknownDay && this.unknownAddresses.size < this.limits.maxUnknownAddresses) this.unknownAddresses.add(ip);
      else ip = OTHER_ADDRESSES;
    }
    this.mergeUnknown({
      ip,
      bucketStart: day,
      attempts: attempt.blocked ? 0 : 1,
      blockedAttempts: attempt.blocked ? 1 : 0,
      lastSeenAt: attempt.at,
    });
  }

  /** Counts a request of an identified key; the key's rows. */
  private request(facts: RequestFacts, outcome: RequestOutcome, tokens: number, costMicroCents: number): KeyRows {
    const { keyId, tenantId, at, ip } = facts;
    const rows = this.rowsOf(keyId);
    countOutcome(rows, OUTCOME_HOURS, keyId, tenantId, hourStart(at), outcome);
    countOutcome(rows, OUTCOME_DAYS, keyId, tenantId, dayStart(at), outcome);
    const address = addressRow(rows, ip);
    if (address) {
      if (at < address.firstSeenAt) address.firstSeenAt = at;
      if (at > address.lastSeenAt) address.lastSeenAt = at;
      address.requests += 1;
    } else {
      this.addAddress(rows, { keyId, tenantId, ip, firstSeenAt: at, lastSeenAt: at, requests: 1 });
    }
    if (this.requestLog.length >= this.limits.maxLogRows) {
      this.dropped.requestLogRows += 1;
      return rows;
    }
    this.requestLog.push({
      keyId,
      tenantId,
      at,
      outcome,
      status: facts.status,
      ip: facts.ip,
      model: clip(facts.model),
      chatbot: clip(facts.chatbot),
      tokens,
      costMicroCents,
      latencyMs: Math.round(facts.latencyMs),
      requestId: clip(facts.requestId),
      userAgent: facts.userAgent,
    });
    return rows;
  }

  private rowsOf(keyId: string): KeyRows {
    let rows = this.keys.get(keyId);
    if (!rows) {
      rows = { outcomeHour: null, outcomeDay: null, moreOutcomeHours: null, moreOutcomeDays: null, model: null, moreModels: null, address: null, moreAddresses: null };
      this.keys.set(keyId, rows);
    }
    return rows;
  }

  /** Adds up another aggregate's batch (UsageBuffer.absorb), within this one's bounds. */
  absorb(batch: VisibilityBatch): void {
    for (const o of batch.outcomesHourly) countOutcome(this.rowsOf(o.keyId), OUTCOME_HOURS, o.keyId, o.tenantId, o.bucketStart, o.outcome, o.requests);
    for (const o of batch.outcomesDaily) countOutcome(this.rowsOf(o.keyId), OUTCOME_DAYS, o.keyId, o.tenantId, o.bucketStart, o.outcome, o.requests);
    for (const model of batch.models) mergeModel(this.rowsOf(model.keyId), model);
    for (const address of batch.clientAddresses) this.mergeAddress(this.rowsOf(address.keyId), address);
    for (const unknown of batch.unknownKeys) this.mergeUnknown(unknown);
    for (const row of batch.requestLog) {
      if (this.requestLog.length < this.limits.maxLogRows) this.requestLog.push(row);
      else this.dropped.requestLogRows += 1;
    }
  }

  private mergeAddress(rows: KeyRows, delta: ClientAddressDelta): void {
    const current = addressRow(rows, delta.ip);
    if (current) {
      current.firstSeenAt = Math.min(current.firstSeenAt, delta.firstSeenAt);
      current.lastSeenAt = Math.max(current.lastSeenAt, delta.lastSeenAt);
      current.requests += delta.requests;
      // Absorbed: the stored lastSeenAt is kept only if every part said so.
      if (!delta.keepLastSeen) delete current.keepLastSeen;
    } else {
      this.addAddress(rows, { ...delta });
    }
  }

  /** A pair new to this write, within the bound (`address` becomes the aggregate's row). */
  private addAddress(rows: KeyRows, address: ClientAddressDelta): void {
    if (this.clientAddressCount >= this.limits.maxClientAddresses) {
      this.dropped.clientAddressRequests += address.requests;
      return;
    }
    if (!rows.address) rows.address = address;
    else (rows.moreAddresses ??= new Map()).set(address.ip, address);
    this.clientAddressCount += 1;
  }

  private mergeUnknown(delta: UnknownKeyDelta): void {
    const id = `${delta.bucketStart}\u0000${delta.ip}`;
    const current = this.unknownKeys.get(id);
    if (!current) {
      this.unknownKeys.set(id, { ...delta });
      return;
    }
    current.attempts += delta.attempts;
    current.blockedAttempts += delta.blockedAttempts;
    current.lastSeenAt = Math.max(current.lastSeenAt, delta.lastSeenAt);
  }

  /** Nothing waits for a write. */
  isEmpty(): boolean {
    return this.keys.size === 0 && this.unknownKeys.size === 0 && this.requestLog.length === 0;
  }

  /** Everything added so far, handed to a write; the aggregate starts over. */
  take(): VisibilityBatch {
    const batch: VisibilityBatch = {
      outcomesHourly: [],
      outcomesDaily: [],
      models: [],
      requestLog: this.requestLog,
      clientAddresses: [],
      unknownKeys: [...this.unknownKeys.values()],
    };
    for (const rows of this.keys.values()) {
      pushHeldRows(rows, OUTCOME_HOURS, batch.outcomesHourly);
      pushHeldRows(rows, OUTCOME_DAYS, batch.outcomesDaily);
      if (rows.model) batch.models.push(rows.model);
      if (rows.moreModels) for (const list of rows.moreModels.values()) for (const m of list) batch.models.push(m);
      if (rows.address) batch.clientAddresses.push(this.toWrite(rows.address));
      if (rows.moreAddresses) for (const address of rows.moreAddresses.values()) batch.clientAddresses.push(this.toWrite(address));
    }
    this.keys = new Map();
    this.requestLog = [];
    this.clientAddressCount = 0;
    this.unknownKeys = new Map();
    return batch;
  }

  /** A pair to write, marked to keep its stored lastSeenAt when this process moved it less than a minute (lastSeenEveryMs) before. */
  private toWrite(address: ClientAddressDelta): ClientAddressDelta {
    if (!this.lastSeenWritten.due(pairId(address), address.lastSeenAt)) address.keepLastSeen = true;
    return address;
  }

  /**
   * A batch taken from here was written: the pairs whose lastSeenAt it moved are remembered, and
   * those moved more than lastSeenEveryMs before the latest are forgotten (they suppress nothing).
   */
  written(batch: VisibilityBatch): void {
    for (const address of batch.clientAddresses) {
      if (!address.keepLastSeen) this.lastSeenWritten.wrote(pairId(address), address.lastSeenAt);
    }
    this.lastSeenWritten.forgetStale();
  }

  /** What the bounds left out since the last call, or null when nothing was. */
  takeDropped(): DroppedRows | null {
    const dropped = this.dropped;
    if (dropped.requestLogRows === 0 && dropped.clientAddressRequests === 0) return null;
    this.dropped = { requestLogRows: 0, clientAddressRequests: 0 };
    return dropped;
  }
}

/** Requests (one, or an absorbed row's) of a key in a bucket with an outcome, in the key's rows (a row object only for a new row). */
function countOutcome(key: KeyRows, period: OutcomePeriod, keyId: string, tenantId: string, bucketStart: number, outcome: RequestOutcome, requests = 1): void {
  const current = heldRow(key, period, bucketStart, outcome);
  if (current) current.requests += requests;
  else holdRow(key, period, { keyId, tenantId, bucketStart, outcome, requests });
}

/** Adds model rows (one request's, or an absorbed row) to a key's rows. */
function mergeModel(rows: KeyRows, delta: ModelDelta): void {
  const current = modelRow(rows, delta.model, delta.bucketStart, delta.outcome);
  if (current) {
    current.requests += delta.requests;
    current.tokens += delta.tokens;
    current.spendMicroCents += delta.spendMicroCents;
  } else {
    addModel(rows, { ...delta });
  }
}

/** A model row new to this write (`row` becomes the key's). */
function addModel(rows: KeyRows, row: ModelDelta): void {
  if (!rows.model) {
    rows.model = row;
    return;
  }
  rows.moreModels ??= new Map();
  const list = rows.moreModels.get(row.model);
  if (list) list.push(row);
  else rows.moreModels.set(row.model, [row]);
}

/** A key's row for a model, day and outcome, if it has one. */
function modelRow(rows: KeyRows, model: string, bucketStart: number, outcome: string): ModelDelta | undefined {
  const first = rows.model;
  if (first && first.model === model && isBucketRow(first, bucketStart, outcome)) return first;
  return findBucketRow(rows.moreModels?.get(model), bucketStart, outcome);
}

/** A key's row for an address, if it has one. */
function addressRow(rows: KeyRows, ip: string): ClientAddressDelta | undefined {
  if (rows.address?.ip === ip) return rows.address;
  return rows.moreAddresses?.get(ip);
}

/** A (key, address) pair's id where this process remembers when it moved the pair's lastSeenAt (NUL cannot appear in either). */
const pairId = (address: { keyId: string; ip: string }) => `${address.keyId}\u0000${address.ip}`;
