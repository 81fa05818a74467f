/** A stored key record for tests of the middleware without a database. */
import type { KeyHasher } from '../../packages/guard/src/keys/key-hasher';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';

/** The record of `key` (a full key string), hashed with `hasher`; override any field. */
export function buildKeyRecord(overrides: Partial<ApiKeyRecord> & { key: string }, hasher: KeyHasher): ApiKeyRecord {
  const { key, ...rest } = overrides;
  return {
    id: key.split('_')[1],
    tenantId: 'acme',
    ownerId: null,
    prefix: 'kw',
    secretHash: hasher.hash(key),
    hashVersion: 1,
    last4: key.slice(-4),
    previousSecretHash: null,
    previousHashVersion: null,
    previousSecretExpiresAt: null,
    name: 'reports',
    description: '',
    metadata: {},
    scopes: ['api', 'reports:read'],
    tags: [],
    tier: 'free',
    rateLimits: { perMinute: null, perHour: null, perDay: null, perMonth: null },
    allowedIps: [],
    allowedModels: [],
    allowedChatbots: [],
    usageLimit: null,
    usageLimitPeriod: 'total',
    tokenLimits: { perMinute: null, perDay: null },
    maxConcurrentRequests: null,
    notifyOnNewIp: false,
    budget: null,
    expiresAt: null,
    status: 'active',
    revokedAt: null,
    usage: { requestsOk: 0, requestsFailed: 0, tokens: 0, spendMicroCents: 0, lastUsedAt: null },
    ledger: { budgetPeriodStart: null, budgetSpentMicroCents: 0, budgetCeilingMicroCents: 0, quotaCeiling: 0, quotaPeriodStart: null },
    createdAt: new Date(),
    updatedAt: new Date(),
    ...rest,
  };
}
