/**
 * What one usage write carries: everything the buffer added up since the last write that
 * committed. Counters are deltas (added to what is stored), so several processes writing batches
 * at the same time never lose or double-count.
 */
import { randomUUID } from 'node:crypto';
import type { AdmittedOutcome, RequestOutcome } from '@keyward/guard';

/** Admitted requests (ok and failed) and what they used. */
export interface Counts {
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
}

/** What one key gained since the last write (admitted requests only: quota, spend, totals). */
export interface KeyUsageDelta extends Counts {
  keyId: string;
  tenantId: string;
  /**
   * The newest budget period (its start, ms) the key spent in, null when none, and the spend in it,
   * for the budget's period counter. Spend in an older period is not kept: that period has ended,
   * and a write applies only the newest (addKeyCounters). Two fields, not a map per key: a key's
   * delta lives until the write, and with 20,000 keys in turn a map each was the largest single
   * kind of object V8 promoted (bench (d), a sampling heap profile).
   */
  budgetPeriod: number | null;
  budgetPeriodSpend: number;
  /** Set when lastUsedAt is due to be written (at most once a minute per key). */
  lastUsedAt: number | null;
}

/** One key's admitted usage in one hour or day bucket. */
export interface RollupDelta extends Counts {
  keyId: string;
  tenantId: string;
  bucketStart: number;
}

/** Requests of one key with one outcome in one hour or day bucket (admitted and refused). */
export interface OutcomeDelta {
  keyId: string;
  tenantId: string;
  bucketStart: number;
  outcome: RequestOutcome;
  requests: number;
}

/** Admitted requests of one key in one UTC day naming one model, by outcome. */
export interface ModelDelta {
  keyId: string;
  tenantId: string;
  bucketStart: number;
  model: string;
  outcome: AdmittedOutcome;
  requests: number;
  tokens: number;
  spendMicroCents: number;
}

/** One request-log row (never the key or a body). */
export interface RequestLogRow {
  keyId: string;
  tenantId: string;
  at: number;
  outcome: RequestOutcome;
  status: number;
  ip: string;
  model: string | null;
  chatbot: string | null;
  tokens: number;
  costMicroCents: number;
  latencyMs: number;
  requestId: string | null;
  userAgent: string | null;
}

/** Requests of one key from one client address. */
export interface ClientAddressDelta {
  keyId: string;
  tenantId: string;
  ip: string;
  firstSeenAt: number;
  lastSeenAt: number;
  requests: number;
  /**
   * True when this process moved the pair's stored lastSeenAt less than a minute ago (see
   * VisibilityAggregate): it is left as stored (a pair not stored yet still gets lastSeenAt).
   */
  keepLastSeen?: boolean;
}

/** Attempts naming no key from one address in one UTC day (`blocked`: refused as a blocked guesser). */
export interface UnknownKeyDelta {
  ip: string;
  bucketStart: number;
  attempts: number;
  blockedAttempts: number;
  lastSeenAt: number;
}

/** Outcome rollups, model spend, request log, client addresses and unknown-key attempts. */
export interface VisibilityBatch {
  outcomesHourly: OutcomeDelta[];
  outcomesDaily: OutcomeDelta[];
  models: ModelDelta[];
  requestLog: RequestLogRow[];
  clientAddresses: ClientAddressDelta[];
  unknownKeys: UnknownKeyDelta[];
}

/** Everything one write carries. */
export interface UsageBatch extends VisibilityBatch {
  /**
   * Unique per batch; written in the batch's transaction, so a batch sent again after a commit
   * whose answer was lost is recognised and not counted twice (a retry keeps its id).
   */
  id: string;
  keys: KeyUsageDelta[];
  hourly: RollupDelta[];
  daily: RollupDelta[];
  /**
   * Usage journal rows the batch sums up (see usage-journal.ts): its write deletes them, all of
   * them or it rolls back, so each is applied once.
   */
  journalIds?: string[];
  /**
   * Journal rows the write appends in its transaction: the rest of a large fold, written in parts
   * (see usage-journal.ts).
   */
  journalRest?: { id: string; owner: string; payload: string }[];
}

/**
 * Writes a batch atomically (the app's sink is the database). It may answer batches to write
 * next, before anything newer (the parts of a large fold after the first).
 */
export interface UsageSink {
  write(batch: UsageBatch): Promise<void | UsageBatch[]>;
}

/** Adds spend in a budget period to a key's delta (see KeyUsageDelta.budgetPeriod: the newest period is kept). */
export function addBudgetSpend(key: KeyUsageDelta, period: number, spend: number): void {
  if (key.budgetPeriod === null || period > key.budgetPeriod) {
    key.budgetPeriod = period;
    key.budgetPeriodSpend = spend;
  } else if (period === key.budgetPeriod) key.budgetPeriodSpend += spend;
}

/** A new batch id: random, unique across processes. */
export function newBatchId(): string {
  return randomUUID();
}

/** A batch with nothing in it (tests and callers fill in what they need). */
export function emptyUsageBatch(): UsageBatch {
  return { id: newBatchId(), keys: [], hourly: [], daily: [], outcomesHourly: [], outcomesDaily: [], models: [], requestLog: [], clientAddresses: [], unknownKeys: [] };
}

/**
 * The batch's lists whose rows belong to a key, read by their keyId (the rest, unknownKeys, belong
 * to an address: addressOwner). A fold of 20,000 keys holds about 200,000 rows: splitting one took
 * 102-112 ms with a test of each row's shape and arrays of every row's owner, 63-69 ms this way.
 */
const KEY_LISTS = ['keys', 'hourly', 'daily', 'outcomesHourly', 'outcomesDaily', 'models', 'requestLog', 'clientAddresses'] as const;

/** The owner of attempts naming no key: their address (a key's rows belong to the key id). */
function addressOwner(row: UnknownKeyDelta): string {
  return `address ${row.ip}`;
}

/** The owners (key ids, or "address …" for attempts naming no key) of what a batch holds, sorted. */
export function usageBatchOwners(batch: UsageBatch): string[] {
  const owners = new Set<string>();
  for (const list of KEY_LISTS) for (const row of batch[list]) owners.add(row.keyId);
  for (const row of batch.unknownKeys) owners.add(addressOwner(row));
  return [...owners].sort();
}

/**
 * The batch in two, by owner (see usageBatchOwners), each with an id of its own; null when all of
 * it belongs to one owner. UsageBuffer uses it to find what the database refuses in a batch: the
 * rest is written, and only the refused owner's part is set aside.
 */
export function splitUsageBatch(batch: UsageBatch): [UsageBatch, UsageBatch] | null {
  const owners = usageBatchOwners(batch);
  if (owners.length < 2) return null;
  return partitionUsageBatch(batch, new Set(owners.slice(0, owners.length >> 1)));
}

/**
 * The batch as [what `owners` own, the rest], each with an id of its own (either may be empty).
 * Never a batch carrying journal rows: its write must consume them all at once.
 */
export function partitionUsageBatch(batch: UsageBatch, owners: ReadonlySet<string>): [UsageBatch, UsageBatch] {
  if ((batch.journalIds?.length ?? 0) > 0) throw new Error('a usage batch carrying journal rows cannot be split');
  const [owned, rest] = spreadByOwner(batch, 2, (owner) => (owners.has(owner) ? 0 : 1));
  return [owned, rest];
}

/**
 * The batch in parts of at most `maxOwners` owners each (see usageBatchOwners), in owner order,
 * each with an id of its own and none of the batch's journal rows.
 */
export function usageBatchParts(batch: UsageBatch, maxOwners: number): UsageBatch[] {
  const owners = usageBatchOwners(batch);
  const partOf = new Map<string, number>();
  for (let i = 0; i < owners.length; i++) partOf.set(owners[i], Math.floor(i / maxOwners));
  return spreadByOwner(batch, Math.ceil(owners.length / maxOwners), (owner) => partOf.get(owner) as number);
}

/** The batch's rows spread over `count` new batches (each with an id of its own) by their owner's part. */
function spreadByOwner(batch: UsageBatch, count: number, partOf: (owner: string) => number): UsageBatch[] {
  const parts = Array.from({ length: count }, () => emptyUsageBatch());
  for (const list of KEY_LISTS) {
    const rows: { keyId: string }[] = batch[list];
    for (const row of rows) (parts[partOf(row.keyId)][list] as { keyId: string }[]).push(row);
  }
  for (const row of batch.unknownKeys) parts[partOf(addressOwner(row))].unknownKeys.push(row);
  return parts;
}

/** What a batch holds, in totals (for a log line: never a secret, no request-log row itself). */
export function usageBatchSummary(batch: UsageBatch) {
  const sum = <T>(list: T[], value: (row: T) => number) => list.reduce((total, row) => total + value(row), 0);
  return {
    owners: usageBatchOwners(batch),
    requests: sum(batch.keys, (k) => k.requestsOk + k.requestsFailed),
    tokens: sum(batch.keys, (k) => k.tokens),
    spendMicroCents: sum(batch.keys, (k) => k.spendMicroCents),
    outcomeRequests: sum(batch.outcomesDaily, (o) => o.requests),
    requestLogRows: batch.requestLog.length,
    unknownKeyAttempts: sum(batch.unknownKeys, (u) => u.attempts),
  };
}

/**
 * The batch as the usage journal stores it: JSON, each row a positional array (about half the
 * size of objects, and as much less to write and parse), without its id, its request log (written
 * at once, never folded) or journal ids. Read back by usageBatchFromJournal.
 *
 * Version 2 names each key id and tenant id once (`ids`, `ten`) and its rows by their index there:
 * under (d) of npm run bench a tick's payload held about 640 bytes a key in version 1, 58 % of it
 * the two ids repeated in each of the seven lists, and every byte of it costs the SQLite writer at
 * the append's COMMIT (its WAL pages, then the checkpoint copying them), and again when the fold
 * deletes the row.
 *
 * Each list is written JOURNAL_SLICE rows at a time. Made all at once, the arrays of a batch of
 * 9,000 keys (50,000 rows) outlived the young generation's collections while they were made, and
 * V8 copied them twice and promoted them: a sixth of what the server promoted under (d) of
 * npm run bench (a sampling heap profile of objects kept past minor GCs). A slice's arrays are
 * garbage as soon as it is written.
 */
export function usageBatchToJournal(batch: UsageBatch): string {
  const ids = new NameIndex();
  const tenants = new NameIndex();
  // One join: a text made by concatenation is copied again when it is sent to the writer thread.
  const out: string[] = ['{"v":2'];
  const list = <T>(name: string, rows: readonly T[], tuple: (row: T) => unknown[]) => {
    out.push(`,"${name}":[`);
    for (let at = 0; at < rows.length; at += JOURNAL_SLICE) {
      if (at > 0) out.push(',');
      out.push(JSON.stringify(rows.slice(at, at + JOURNAL_SLICE).map(tuple)).slice(1, -1));
    }
    out.push(']');
  };
  const key = (row: { keyId: string }) => ids.of(row.keyId);
  const tenant = (row: { tenantId: string }) => tenants.of(row.tenantId);
  list('k', batch.keys, (k) => [key(k), tenant(k), k.requestsOk, k.requestsFailed, k.tokens, k.spendMicroCents, k.budgetPeriod, k.budgetPeriodSpend, k.lastUsedAt]);
  const rollup = (r: RollupDelta) => [key(r), tenant(r), r.bucketStart, r.requestsOk, r.requestsFailed, r.tokens, r.spendMicroCents];
  list('h', batch.hourly, rollup);
  list('d', batch.daily, rollup);
  const outcome = (o: OutcomeDelta) => [key(o), tenant(o), o.bucketStart, o.outcome, o.requests];
  list('oh', batch.outcomesHourly, outcome);
  list('od', batch.outcomesDaily, outcome);
  list('m', batch.models, (m) => [key(m), tenant(m), m.bucketStart, m.model, m.outcome, m.requests, m.tokens, m.spendMicroCents]);
  list('a', batch.clientAddresses, (a) => [key(a), tenant(a), a.ip, a.firstSeenAt, a.lastSeenAt, a.requests, a.keepLastSeen === true ? 1 : 0]);
  list('u', batch.unknownKeys, unknownTuple);
  out.push(',"ids":', JSON.stringify(ids.names), ',"ten":', JSON.stringify(tenants.names), '}');
  return out.join('');
}

/** Names (key ids, tenant ids) in the order first seen, each with its index among them. */
class NameIndex {
  readonly names: string[] = [];
  private readonly index = new Map<string, number>();

  of(name: string): number {
    let at = this.index.get(name);
    if (at === undefined) {
      at = this.names.length;
      this.names.push(name);
      this.index.set(name, at);
    }
    return at;
  }
}

/** Rows of a journal payload's list made into arrays and written at a time (see usageBatchToJournal). */
const JOURNAL_SLICE = 500;

const unknownTuple = (u: UnknownKeyDelta) => [u.ip, u.bucketStart, u.attempts, u.blockedAttempts, u.lastSeenAt];

/**
 * A journal payload (usageBatchToJournal; version 1, written before key and tenant ids were named
 * once, is read too) as a batch with the given id; throws on a payload of another version.
 */
export function usageBatchFromJournal(id: string, payload: string): UsageBatch {
  // Written by this module and read back only from the app's own table: the shape is trusted.
  type Row = unknown[];
  const p = JSON.parse(payload) as { v: number; k: Row[]; h: Row[]; d: Row[]; oh: Row[]; od: Row[]; m: Row[]; a: Row[]; u: Row[]; ids?: string[]; ten?: string[] };
  if (p.v !== 1 && p.v !== 2) throw new Error(`a usage journal payload of version ${String(p.v)} cannot be read`);
  // Version 2 rows name their key and tenant by index, version 1 rows by the ids themselves.
  const keyOf = p.v === 2 ? (i: unknown) => (p.ids as string[])[i as number] : (i: unknown) => i as string;
  const tenantOf = p.v === 2 ? (i: unknown) => (p.ten as string[])[i as number] : (i: unknown) => i as string;
  const rollup = ([key, tenant, bucketStart, requestsOk, requestsFailed, tokens, spendMicroCents]: Row): RollupDelta =>
    ({ keyId: keyOf(key), tenantId: tenantOf(tenant), bucketStart, requestsOk, requestsFailed, tokens, spendMicroCents }) as RollupDelta;
  const outcome = ([key, tenant, bucketStart, outcome, requests]: Row): OutcomeDelta =>
    ({ keyId: keyOf(key), tenantId: tenantOf(tenant), bucketStart, outcome, requests }) as OutcomeDelta;
  const usage = (row: Row): KeyUsageDelta => {
    const [key, tenant, requestsOk, requestsFailed, tokens, spendMicroCents] = row;
    const delta = { keyId: keyOf(key), tenantId: tenantOf(tenant), requestsOk, requestsFailed, tokens, spendMicroCents, budgetPeriod: null, budgetPeriodSpend: 0 } as KeyUsageDelta;
    if (p.v === 2) {
      const [period, spend, lastUsedAt] = row.slice(6) as [number | null, number, number | null];
      if (period !== null) addBudgetSpend(delta, period, spend);
      delta.lastUsedAt = lastUsedAt;
    } else {
      // Version 1: the spend as [period, spend] pairs (rows of earlier versions may hold several periods).
      const [pairs, lastUsedAt] = row.slice(6) as [[number, number][], number | null];
      for (const [period, spend] of pairs) addBudgetSpend(delta, period, spend);
      delta.lastUsedAt = lastUsedAt;
    }
    return delta;
  };
  return {
    id,
    keys: p.k.map(usage),
    hourly: p.h.map(rollup),
    daily: p.d.map(rollup),
    outcomesHourly: p.oh.map(outcome),
    outcomesDaily: p.od.map(outcome),
    models: p.m.map(
      ([key, tenant, bucketStart, model, outcome, requests, tokens, spendMicroCents]) =>
        ({ keyId: keyOf(key), tenantId: tenantOf(tenant), bucketStart, model, outcome, requests, tokens, spendMicroCents }) as ModelDelta,
    ),
    requestLog: [],
    clientAddresses: p.a.map(([key, tenant, ip, firstSeenAt, lastSeenAt, requests, keep]) => {
      const address = { keyId: keyOf(key), tenantId: tenantOf(tenant), ip, firstSeenAt, lastSeenAt, requests } as ClientAddressDelta;
      if (keep === 1) address.keepLastSeen = true;
      return address;
    }),
    unknownKeys: p.u.map(([ip, bucketStart, attempts, blockedAttempts, lastSeenAt]) => ({ ip, bucketStart, attempts, blockedAttempts, lastSeenAt }) as UnknownKeyDelta),
  };
}
