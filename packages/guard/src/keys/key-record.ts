import type { KeyHasher } from './key-hasher';
import { parseKeyFormat } from './key-format';
import type { ApiKeyRecord } from './key-types';

/** What a local key store must know of a key it issued; everything else has a default. */
export type KeyRecordInit = Partial<Omit<ApiKeyRecord, 'secretHash' | 'hashVersion' | 'last4' | 'prefix'>> & {
  /** The full key as issued (e.g. by `generateKey`); only its hash is kept. */
  key: string;
  tenantId: string;
};

/**
 * The stored record of a key, for apps that keep their own keys (a local `findKey`): the secret is
 * hashed with `hasher`; settings not given are: active, no expiry, no scopes, no allowlists, no
 * quota, budget or token limits, and the rate windows of the tier (enterprise unless given).
 */
export function keyRecord(init: KeyRecordInit, hasher: KeyHasher): ApiKeyRecord {
  const { key, ...settings } = init;
  const parsed = parseKeyFormat(key);
  if (!parsed) throw new TypeError('keyRecord: `key` is not a Keyward key (generate one with generateKey(prefix))');
  const now = new Date();
  return {
    id: parsed.id,
    ownerId: null,
    prefix: parsed.prefix,
    secretHash: hasher.hash(key),
    hashVersion: hasher.currentVersion,
    last4: key.slice(-4),
    previousSecretHash: null,
    previousHashVersion: null,
    previousSecretExpiresAt: null,
    name: parsed.id,
    description: '',
    metadata: {},
    scopes: [],
    tags: [],
    tier: 'enterprise',
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
    createdAt: now,
    updatedAt: now,
    ...settings,
  };
}
