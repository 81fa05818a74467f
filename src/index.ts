/**
 * Keyward as a library: guard any Express app with Keyward API keys.
 *
 *   import { apiKeyAuth, cachedKeyStore, createMemoryLimits, KeyHasher, requireScope } from 'keyward';
 *
 * See README, "Using the middleware in your own app".
 */
export { apiKeyAuth, createKeyGuard, InvalidRequest } from './middleware/api-key-auth';
export type { Admission, Ending, HeldRequest, KeyGuard, Refusal, Verdict } from './middleware/api-key-auth';
export type { GuardAttempt, HeaderSink } from './middleware/attempt';
export type { LevelEntry, LevelSource } from './middleware/claims';
export { requireScope } from './middleware/require-scope';
export type { ApiKeyAuthOptions } from './middleware/options';
export type { SeparateRateLimit } from './middleware/meters';
export type { AuthenticatedKey, ReportedUsage } from './middleware/authenticated-key';
export { cachedKeyStore } from './middleware/key-store';
export type { CachedKeyStore, KeyCacheOptions, KeyCacheStats, KeyStore } from './middleware/key-store';
export { socketAddress } from './middleware/credentials';
export { DENIALS, type DenialCode } from './middleware/deny';
export { createMemoryLimits, DEFAULT_INVALID_KEY_POLICY, volatileCeilings } from './limits/limits';
export type { InvalidKeyPolicy, LimitBackend, MemoryLimitsOptions } from './limits/limits';
export type { CeilingStore, LimitLedger } from './limits/ledger';
export { KeyHasher } from './keys/key-hasher';
export { generateKey, parseKey } from './keys/key-format';
export { LocalKeyEventBus } from './keys/key-events';
export type { KeyChange, KeyEventBus } from './keys/key-events';
export type { ApiKeyRecord, Budget, KeyStatus, RateLimits, Tier } from './keys/key-types';
export { TIER_LIMITS } from './keys/tiers';
export type { RefusalEvent, RequestFacts, RequestOutcome, UnknownKeyAttempt, UsageEvent, UsageRecorder } from './usage/usage-types';
