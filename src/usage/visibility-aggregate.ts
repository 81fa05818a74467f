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

// Every request merges into these maps, keyed first by key id: the id string comes from the cached
// key record, so its hash is computed once, and no map key is composed per request (composing and
// hashing `${keyId}\u0000${bucket}\u0000${outcome}` four times a request cost more than the rest of
// the merge). Under a key, outcome rows are few (buckets within a write × outcome codes) and found
// by a scan; models and addresses, which a client chooses, get maps of their own. A row object is
// made only for a new row, so the common case allocates nothing.

/** Adds up outcomes, model spend, log rows, addresses and unknown-key attempts until take(). */
export class VisibilityAggregate {
  /** By key id: that key's rows. */
  private outcomesHourly = new Map<string, OutcomeDelta[]>();
  private outcomesDaily = new Map<string, OutcomeDelta[]>();
  /** By key id, then model: rows by day and outcome. */
  private models = new Map<string, Map<string, ModelDelta[]>>();
  private requestLog: RequestLogRow[] = [];
  /** By key id, then address. */
  private clientAddresses = new Map<string, Map<string, ClientAddressDelta>>();
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
    this.request(event, event.outcome, event.tokens, event.costMicroCents);
    const model = clip(event.model);
    if (!model) return;
    const { keyId, outcome } = event;
    const bucketStart = dayStart(event.at);
    const current = findRow(this.models.get(keyId)?.get(model), bucketStart, outcome);
    if (current) {
      current.requests += 1;
      current.tokens += event.tokens;
      current.spendMicroCents += event.costMicroCents;
    } else {
      this.mergeModel({ keyId, tenantId: event.tenantId, bucketStart, model, outcome, requests: 1, tokens: event.tokens, spendMicroCents: event.costMicroCents });
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

  private request(facts: RequestFacts, outcome: RequestOutcome, tokens: number, costMicroCents: number): void {
    const { keyId, tenantId, at, ip } = facts;
    countOutcome(this.outcomesHourly, keyId, tenantId, hourStart(at), outcome);
    countOutcome(this.outcomesDaily, keyId, tenantId, dayStart(at), outcome);
    const address = this.clientAddresses.get(keyId)?.get(ip);
    if (address) {
      if (at < address.firstSeenAt) address.firstSeenAt = at;
      if (at > address.lastSeenAt) address.lastSeenAt = at;
      address.requests += 1;
    } else {
      this.mergeAddress({ keyId, tenantId, ip, firstSeenAt: at, lastSeenAt: at, requests: 1 });
    }
    if (this.requestLog.length >= this.limits.maxLogRows) {
      this.dropped.requestLogRows += 1;
      return;
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
  }

  /** Adds up another aggregate's batch (UsageBuffer.absorb), within this one's bounds. */
  absorb(batch: VisibilityBatch): void {
    for (const o of batch.outcomesHourly) countOutcome(this.outcomesHourly, o.keyId, o.tenantId, o.bucketStart, o.outcome, o.requests);
    for (const o of batch.outcomesDaily) countOutcome(this.outcomesDaily, o.keyId, o.tenantId, o.bucketStart, o.outcome, o.requests);
    for (const model of batch.models) this.mergeModel(model);
    for (const address of batch.clientAddresses) this.mergeAddress(address);
    for (const unknown of batch.unknownKeys) this.mergeUnknown(unknown);
    for (const row of batch.requestLog) {
      if (this.requestLog.length < this.limits.maxLogRows) this.requestLog.push(row);
      else this.dropped.requestLogRows += 1;
    }
  }

  private mergeModel(delta: ModelDelta): void {
    const byModel = this.models.get(delta.keyId);
    const rows = byModel?.get(delta.model);
    const current = findRow(rows, delta.bucketStart, delta.outcome);
    if (!current) {
      if (rows) rows.push({ ...delta });
      else if (byModel) byModel.set(delta.model, [{ ...delta }]);
      else this.models.set(delta.keyId, new Map([[delta.model, [{ ...delta }]]]));
      return;
    }
    current.requests += delta.requests;
    current.tokens += delta.tokens;
    current.spendMicroCents += delta.spendMicroCents;
  }

  private mergeAddress(delta: ClientAddressDelta): void {
    const byIp = this.clientAddresses.get(delta.keyId);
    const current = byIp?.get(delta.ip);
    if (current) {
      current.firstSeenAt = Math.min(current.firstSeenAt, delta.firstSeenAt);
      current.lastSeenAt = Math.max(current.lastSeenAt, delta.lastSeenAt);
      current.requests += delta.requests;
      // Absorbed: the stored lastSeenAt is kept only if every part said so.
      if (!delta.keepLastSeen) delete current.keepLastSeen;
    } else if (this.clientAddressCount < this.limits.maxClientAddresses) {
      if (byIp) byIp.set(delta.ip, { ...delta });
      else this.clientAddresses.set(delta.keyId, new Map([[delta.ip, { ...delta }]]));
      this.clientAddressCount += 1;
    } else {
      this.dropped.clientAddressRequests += delta.requests;
    }
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
    return this.outcomesHourly.size === 0 && this.unknownKeys.size === 0;
  }

  /** Everything added so far, handed to a write; the aggregate starts over. */
  take(): VisibilityBatch {
    const batch: VisibilityBatch = {
      outcomesHourly: flat(this.outcomesHourly.values()),
      outcomesDaily: flat(this.outcomesDaily.values()),
      models: flat([...this.models.values()].flatMap((byModel) => [...byModel.values()])),
      requestLog: this.requestLog,
      clientAddresses: this.addressesToWrite(),
      unknownKeys: [...this.unknownKeys.values()],
    };
    this.outcomesHourly = new Map();
    this.outcomesDaily = new Map();
    this.models = new Map();
    this.requestLog = [];
    this.clientAddresses = new Map();
    this.clientAddressCount = 0;
    this.unknownKeys = new Map();
    return batch;
  }

  /** The pairs to write, each marked to keep its stored lastSeenAt when this process moved it less than a minute (lastSeenEveryMs) before. */
  private addressesToWrite(): ClientAddressDelta[] {
    const addresses: ClientAddressDelta[] = [];
    for (const byIp of this.clientAddresses.values()) {
      for (const address of byIp.values()) {
        if (!this.lastSeenWritten.due(pairId(address), address.lastSeenAt)) address.keepLastSeen = true;
        addresses.push(address);
      }
    }
    return addresses;
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

/** Requests (one, or an absorbed row's) of a key in a bucket with an outcome (a row object only for a new row). */
function countOutcome(map: Map<string, OutcomeDelta[]>, keyId: string, tenantId: string, bucketStart: number, outcome: RequestOutcome, requests = 1): void {
  const rows = map.get(keyId);
  const current = findRow(rows, bucketStart, outcome);
  if (current) current.requests += requests;
  else if (rows) rows.push({ keyId, tenantId, bucketStart, outcome, requests });
  else map.set(keyId, [{ keyId, tenantId, bucketStart, outcome, requests }]);
}

/** A key's row for a bucket and outcome (outcome and model rows), found by a scan: a key has few per write. */
function findRow<T extends { bucketStart: number; outcome: string }>(rows: T[] | undefined, bucketStart: number, outcome: string): T | undefined {
  if (rows) for (const row of rows) if (row.bucketStart === bucketStart && row.outcome === outcome) return row;
  return undefined;
}

function flat<T>(lists: Iterable<T[]>): T[] {
  const rows: T[] = [];
  for (const list of lists) for (const row of list) rows.push(row);
  return rows;
}

/** A (key, address) pair's id where this process remembers when it moved the pair's lastSeenAt (NUL cannot appear in either). */
const pairId = (address: { keyId: string; ip: string }) => `${address.keyId}\u0000${address.ip}`;
