/**
 * Password hashing with scrypt (Node's crypto) at OWASP's recommended cost: N=2^17, r=8, p=1.
 * Stored as `scrypt$<log2 N>$<r>$<p>$<salt>$<hash>` (base64url), so the cost can rise later while
 * old hashes still verify.
 */
import { randomBytes, scrypt as scryptCallback, type ScryptOptions, timingSafeEqual } from 'node:crypto';

const KEY_LENGTH = 32;
/** Longest password accepted; longer input is refused before hashing (hashing cost is per byte). */
export const MAX_PASSWORD_LENGTH = 256;
export const MIN_PASSWORD_LENGTH = 12;

export interface PasswordHasherOptions {
  /** log2 of scrypt's N. 17 is OWASP's minimum for scrypt; tests may lower it. */
  log2N?: number;
  r?: number;
  p?: number;
}

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function scryptOptions(log2N: number, r: number, p: number): ScryptOptions {
  // scrypt needs 128 * N * r bytes; leave headroom above Node's 32 MB default.
  return { N: 2 ** log2N, r, p, maxmem: 256 * 2 ** log2N * r };
}

/** Hashes and verifies passwords. */
export class PasswordHasher {
  private readonly log2N: number;
  private readonly r: number;
  private readonly p: number;

  constructor(options: PasswordHasherOptions = {}) {
    this.log2N = options.log2N ?? 17;
    this.r = options.r ?? 8;
    this.p = options.p ?? 1;
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await scrypt(password, salt, scryptOptions(this.log2N, this.r, this.p));
    return ['scrypt', this.log2N, this.r, this.p, salt.toString('base64url'), key.toString('base64url')].join('$');
  }

  /** Constant-time check of a password against a stored hash; false for malformed hashes. */
  async verify(password: string, stored: string): Promise<boolean> {
    if (password.length > MAX_PASSWORD_LENGTH) return false;
    const parts = stored.split('$');
    if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
    const [log2N, r, p] = parts.slice(1, 4).map(Number);
    if (![log2N, r, p].every(Number.isInteger) || log2N < 10 || log2N > 22) return false;
    const expected = Buffer.from(parts[5], 'base64url');
    const actual = await scrypt(password, Buffer.from(parts[4], 'base64url'), scryptOptions(log2N, r, p));
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  /** A hash of a random password, compared against when an email is unknown so timing is alike. */
  async dummyHash(): Promise<string> {
    return this.hash(randomBytes(16).toString('base64url'));
  }
}

/** A strong random password (24 base64url characters, 144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
