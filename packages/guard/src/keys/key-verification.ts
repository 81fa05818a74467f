import type { KeyHasher } from './key-hasher';
import type { ApiKeyRecord } from './key-types';

/** Why a presented key is refused, in the order the checks run. */
export type CredentialFailure = 'invalid_api_key' | 'key_revoked' | 'key_inactive' | 'key_expired';

export type CredentialCheck =
  | { ok: true; usedPreviousSecret: boolean }
  | { ok: false; code: CredentialFailure };

type CredentialRecord = Pick<
  ApiKeyRecord,
  'secretHash' | 'hashVersion' | 'previousSecretHash' | 'previousHashVersion' | 'previousSecretExpiresAt' | 'status' | 'expiresAt'
>;

/** Which stored secret a presented key matches (constant-time HMAC comparison), if any. */
export function matchSecret(record: CredentialRecord, presentedKey: string, hasher: KeyHasher): 'current' | 'previous' | null {
  if (hasher.matches(presentedKey, record.secretHash, record.hashVersion)) return 'current';
  if (
    record.previousSecretHash !== null &&
    record.previousHashVersion !== null &&
    hasher.matches(presentedKey, record.previousSecretHash, record.previousHashVersion)
  ) {
    return 'previous';
  }
  return null;
}

// The answers are constants: checked on every guarded request, they allocate nothing.
const REVOKED: CredentialCheck = Object.freeze({ ok: false, code: 'key_revoked' });
const INACTIVE: CredentialCheck = Object.freeze({ ok: false, code: 'key_inactive' });
const EXPIRED: CredentialCheck = Object.freeze({ ok: false, code: 'key_expired' });
const CURRENT: CredentialCheck = Object.freeze({ ok: true, usedPreviousSecret: false });
const PREVIOUS: CredentialCheck = Object.freeze({ ok: true, usedPreviousSecret: true });

/** Status, then expiry (of the key, and of a rotated-out secret), for a key whose secret matched. */
export function checkKeyState(record: CredentialRecord, matched: 'current' | 'previous', now: number): CredentialCheck {
  if (record.status === 'revoked') return REVOKED;
  if (record.status === 'inactive') return INACTIVE;
  if (record.expiresAt && record.expiresAt.getTime() <= now) return EXPIRED;
  if (matched === 'previous' && (record.previousSecretExpiresAt?.getTime() ?? 0) <= now) return EXPIRED;
  return matched === 'previous' ? PREVIOUS : CURRENT;
}

/**
 * Checks a presented key against its stored record: secret (current, or the previous one during
 * a rotation), then status, then expiry. The format and checksum were checked by parseKey before
 * the record was looked up. Shared by the key service and the middleware so they cannot disagree.
 */
export function checkCredential(
  record: CredentialRecord | null,
  presentedKey: string,
  hasher: KeyHasher,
  now: number,
): CredentialCheck {
  if (!record) return { ok: false, code: 'invalid_api_key' };
  const matched = matchSecret(record, presentedKey, hasher);
  if (!matched) return { ok: false, code: 'invalid_api_key' };
  return checkKeyState(record, matched, now);
}
