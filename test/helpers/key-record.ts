/** A stored key record for tests of the middleware without a database. */
import type { KeyHasher } from '../../packages/guard/src/keys/key-hasher';
import { keyRecord } from '../../packages/guard/src/keys/key-record';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';

/** The record of `key` (a full key string), hashed with `hasher`; override any field. */
export function buildKeyRecord(overrides: Partial<ApiKeyRecord> & { key: string }, hasher: KeyHasher): ApiKeyRecord {
  return keyRecord({ tenantId: 'acme', name: 'reports', scopes: ['api', 'reports:read'], tier: 'free', ...overrides }, hasher);
}
