/** Domain types of API keys, shared by the key service, the middleware's store and presenters. */
import type { TokenLimits } from '../governance/level-types';

export type { TokenLimits };

export const KEY_STATUSES = ['active', 'inactive', 'revoked'] as const;
/** Stored status. "expired" is derived from expiresAt, never stored. */
export type KeyStatus = (typeof KEY_STATUSES)[number];
/** What people and the API see: the stored status, or "expired" once expiresAt has passed. */
export type DisplayStatus = KeyStatus | 'expired';

export const TIERS = ['free', 'pro', 'enterprise'] as const;
export type Tier = (typeof TIERS)[number];

export const BUDGET_PERIODS = ['total', 'monthly'] as const;
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

/** The period of a key's request quota (usageLimit): its lifetime, or UTC days / months. */
export const USAGE_LIMIT_PERIODS = ['total', 'daily', 'monthly'] as const;
export type UsageLimitPeriod = (typeof USAGE_LIMIT_PERIODS)[number];

/** The key list's expiry filter: expiring within 7 or 30 days, expired, or never expiring. */
export const EXPIRY_FILTERS = ['7d', '30d', 'expired', 'never'] as const;
export type ExpiryFilter = (typeof EXPIRY_FILTERS)[number];

export const RATE_WINDOWS = ['minute', 'hour', 'day', 'month'] as const;
export type RateWindow = (typeof RATE_WINDOWS)[number];

/** Per-window request limits; null in overrides means "the tier's default". */
export interface RateLimits {
  perMinute: number;
  perHour: number;
  perDay: number;
  perMonth: number;
}
export type RateLimitOverrides = { [K in keyof RateLimits]: number | null };

export interface Budget {
  limitCents: number;
  period: BudgetPeriod;
}

/** Everything a person or program may set on a key. */
export interface KeySettings {
  name: string;
  description: string;
  scopes: string[];
  tags: string[];
  metadata: Record<string, unknown>;
  tier: Tier;
  rateLimits: RateLimitOverrides;
  allowedIps: string[];
  allowedModels: string[];
  allowedChatbots: string[];
  usageLimit: number | null;
  /** The period usageLimit counts over; daily and monthly quotas restart at 00:00 UTC. */
  usageLimitPeriod: UsageLimitPeriod;
  /** Tokens per minute and per UTC day; null: no such limit. */
  tokenLimits: TokenLimits;
  /** Requests in flight at once; null: no limit. */
  maxConcurrentRequests: number | null;
  /** Send the key.new_ip alert when the key is used from an address it was not used from before. */
  notifyOnNewIp: boolean;
  budget: Budget | null;
  expiresAt: Date | null;
  ownerId: string | null;
}

/** Usage counters since the last reset. Spend is in micro-cents (1e-6 cent). */
export interface KeyUsageCounters {
  requestsOk: number;
  requestsFailed: number;
  tokens: number;
  spendMicroCents: number;
  lastUsedAt: Date | null;
}

/**
 * Durable state of the quota and budget ledgers (see limits/): the spend inside the current
 * budget period and the high-water marks no ledger passes without raising them first.
 */
export interface KeyLedgerState {
  budgetPeriodStart: Date | null;
  budgetSpentMicroCents: number;
  budgetCeilingMicroCents: number;
  quotaCeiling: number;
  /** The quota period quotaCeiling belongs to (daily and monthly quotas); null: total, or never set. */
  quotaPeriodStart: Date | null;
}

/** A stored key's credentials. Never leaves the server. */
export interface KeyCredentials {
  prefix: string;
  secretHash: string;
  hashVersion: number;
  last4: string;
  previousSecretHash: string | null;
  previousHashVersion: number | null;
  previousSecretExpiresAt: Date | null;
}

/** A stored key. */
export interface ApiKeyRecord extends KeySettings, KeyCredentials {
  id: string;
  tenantId: string;
  status: KeyStatus;
  revokedAt: Date | null;
  usage: KeyUsageCounters;
  ledger: KeyLedgerState;
  createdAt: Date;
  updatedAt: Date;
}

/** The status a key shows at `now`: revoked wins, then expiry, then the stored status. */
export function displayStatus(key: Pick<ApiKeyRecord, 'status' | 'expiresAt'>, now: Date): DisplayStatus {
  if (key.status === 'revoked') return 'revoked';
  if (key.expiresAt && key.expiresAt.getTime() <= now.getTime()) return 'expired';
  return key.status;
}
