/**
 * @keyward/guard: guard any Express app with Keyward API keys.
 *
 *   import { apiKeyAuth, cachedKeyStore, createMemoryLimits, KeyHasher, requireScope } from '@keyward/guard';
 *
 * The middleware reaches keys through a `KeyStore` it is given (your lookup by public id, cached)
 * and counts through a `LimitBackend` (memory here; Redis from '@keyward/guard/redis').
 * See the package README.
 */

// The middleware and its request handle.
export { apiKeyAuth, createKeyGuard, heldBy, InvalidRequest } from './middleware/api-key-auth';
export type { Admission, Ending, HeldRequest, KeyGuard, Refusal, Verdict } from './middleware/api-key-auth';
export type { ApiKeyAuthOptions } from './middleware/options';
export type { SeparateRateLimit } from './middleware/meters';
export type { AuthenticatedKey, ReportedUsage } from './middleware/authenticated-key';
export { requireScope } from './middleware/require-scope';
export { requestFacts } from './middleware/attempt';
export type { GuardAttempt, HeaderSink } from './middleware/attempt';
export { keyQuotaBaseline, quotaPeriodStart } from './middleware/claims';
export type { LevelEntry, LevelSource, Settles } from './middleware/claims';
export { clientAddress, socketAddress } from './middleware/credentials';
export { clientLeft } from './middleware/response-end';
export { DENIALS, SHORT_WAIT_SECONDS, type DenialCode, type ErrorType } from './middleware/deny';

// Serving an Express app: requests and responses that share hidden classes (see http/express-server.ts).
export { expressServerOptions, type ExpressPrototypes, type ExpressServerOptions } from './http/express-server';

// Key sources.
export { cachedKeyStore } from './middleware/key-store';
export type { CachedKeyStore, KeyCacheOptions, KeyCacheStats, KeyStore } from './middleware/key-store';
export { LocalKeyEventBus } from './keys/key-events';
export type { KeyChange, KeyEventBus } from './keys/key-events';

// Keys: format, hashing, verification, scopes, tiers.
export { displayPrefix, generateKey, isKeyId, parseKey } from './keys/key-format';
export { KeyHasher } from './keys/key-hasher';
export { keyRecord, type KeyRecordInit } from './keys/key-record';
export { checkCredential, type CredentialFailure } from './keys/key-verification';
export { ADMIN_SCOPE, holdsScope, keyAuthority, scopesBeyond, type ScopeAuthority } from './keys/scopes';
export { effectiveRateLimits, MAX_RATE_LIMITS, TIER_LIMITS } from './keys/tiers';
export { BUDGET_PERIODS, displayStatus, EXPIRY_FILTERS, TIERS, USAGE_LIMIT_PERIODS } from './keys/key-types';
export type {
  ApiKeyRecord,
  Budget,
  BudgetPeriod,
  DisplayStatus,
  ExpiryFilter,
  KeyCredentials,
  KeySettings,
  KeyStatus,
  RateLimits,
  Tier,
  UsageLimitPeriod,
} from './keys/key-types';

// Tenant and owner levels.
export { DEFAULT_ALERT_THRESHOLDS, limitsNothing, NO_LIMITS } from './governance/level-types';
export type {
  BudgetView,
  LevelLimits,
  LevelRateLimits,
  OwnerLimitsView,
  TenantLimits,
  TenantLimitsView,
  TokenLimits,
} from './governance/level-types';

// Limits: backends, ledgers, periods, status views.
export { createMemoryLimits, DEFAULT_INVALID_KEY_POLICY, volatileCeilings } from './limits/limits';
export type { InvalidKeyPolicy, LimitBackend, MemoryLimitsOptions } from './limits/limits';
export type { CeilingStore, CounterKind, LimitLedger, Reservation } from './limits/ledger';
export { budgetBaseline } from './limits/key-baselines';
export { budgetPeriodEnd, budgetPeriodStart, dayStart, hourStart, microCentsToCents } from './limits/periods';
export { limitStatus, type LevelStatus, type LimitStatus } from './limits/limit-status';

// Usage reporting.
export { ADMITTED_OUTCOMES, REFUSAL_OUTCOMES, REQUEST_OUTCOMES } from './usage/usage-types';
export type {
  AdmittedOutcome,
  RefusalEvent,
  RefusalOutcome,
  RequestFacts,
  RequestOutcome,
  UnknownKeyAttempt,
  UsageEvent,
  UsageRecorder,
} from './usage/usage-types';

// Small helpers the guard uses and apps may reuse.
export { compileIpAllowlist, normalizeIpEntry } from './lib/ip';
export { newId, newSortableId } from './lib/base62';
export { Interner, internedList, StringInterner } from './lib/intern';

// Remote key source: verify through Keyward's verify API, with a short cache kept by its change feed.
export { createRemoteGuard } from './remote/remote-guard';
export type { RemoteCheckRequest, RemoteGuard, RemoteGuardOptions, RemoteGuardStats, RemoteVerdict } from './remote/remote-guard';
export type { VerifyAnswer, VerifyWindow } from './remote/verify-answer';
