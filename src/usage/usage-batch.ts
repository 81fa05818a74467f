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
  /** Spend per budget period start (ms), for the budget's period counter. */
  budgetSpend: Map<number, number>;
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
}

/** Writes a batch atomically (the app's sink is the database). */
export interface UsageSink {
  write(batch: UsageBatch): Promise<void>;
}

/** A new batch id: random, unique across processes. */
export function newBatchId(): string {
  return randomUUID();
}

/** A batch with nothing in it (tests and callers fill in what they need). */
export function emptyUsageBatch(): UsageBatch {
  return { id: newBatchId(), keys: [], hourly: [], daily: [], outcomesHourly: [], outcomesDaily: [], models: [], requestLog: [], clientAddresses: [], unknownKeys: [] };
}
