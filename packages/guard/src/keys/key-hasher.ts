import { createHmac, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';

/**
 * Hashes key strings with HMAC-SHA256 under KEY_HASH_SECRET. Every stored hash carries the
 * version of the secret that made it, so the secret can be replaced later: add the new secret as
 * a new version and keep the old one for verifying existing keys.
 */
/** A well-formed stored hash that no key hashes to in practice (all zero bits). */
const UNMATCHABLE_HASH = '0'.repeat(64);

export class KeyHasher {
  private readonly secrets: Map<number, KeyObject>;
  /** Stored hex hashes decoded once (bounded): verification runs on every guarded request. */
  private readonly decoded = new Map<string, Buffer>();
  readonly currentVersion: number;

  /** `secrets` maps hash versions to HMAC secrets; the highest version hashes new keys. */
  constructor(secrets: Record<number, string>) {
    const versions = Object.keys(secrets).map(Number);
    if (versions.length === 0) throw new TypeError('KeyHasher needs at least one secret');
    this.secrets = new Map(versions.map((v) => [v, createSecretKey(Buffer.from(secrets[v], 'utf8'))]));
    this.currentVersion = Math.max(...versions);
  }

  /** Hex HMAC of `key` under the secret of `version`. */
  hash(key: string, version: number = this.currentVersion): string {
    const secret = this.secrets.get(version);
    if (!secret) throw new Error(`No key-hash secret for hash version ${version}`);
    return createHmac('sha256', secret).update(key).digest('hex');
  }

  /**
   * The work of matches() against a hash nothing can match: for unknown key ids, so that they take
   * as long to refuse as a wrong secret for a real id. Always false.
   */
  matchesNothing(key: string): boolean {
    return this.matches(key, UNMATCHABLE_HASH, this.currentVersion) && false;
  }

  /** Constant-time check of `key` against a stored hex hash. */
  matches(key: string, storedHash: string, version: number): boolean {
    const secret = this.secrets.get(version);
    if (!secret) return false;
    let expected = this.decoded.get(storedHash);
    if (!expected) {
      if (this.decoded.size >= 10_000) this.decoded.clear();
      expected = Buffer.from(storedHash, 'hex');
      this.decoded.set(storedHash, expected);
    }
    const actual = createHmac('sha256', secret).update(key).digest();
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }
}
