/**
 * Webhook signing secrets in the Standard Webhooks format: `whsec_` + base64 of the key bytes.
 * They are stored sealed (AES-256-GCM) under a key derived (HKDF, its own purpose) from
 * KEY_HASH_SECRET: unlike SESSION_SECRET, which an operator may rotate to sign everyone out,
 * KEY_HASH_SECRET lives as long as the installation's keys, so sealed secrets stay readable.
 */
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../dashboard/secret-box';

const PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Secret bytes a client-supplied secret may have. */
export const SECRET_MIN_BYTES = 24;
export const SECRET_MAX_BYTES = 64;

/** A fresh secret: 32 random bytes. */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/** The key bytes of a well-formed secret, or null (wrong prefix, not canonical base64, 24-64 bytes). */
export function secretBytes(secret: string): Buffer | null {
  if (!secret.startsWith(PREFIX)) return null;
  const encoded = secret.slice(PREFIX.length);
  if (encoded.length % 4 !== 0 || !BASE64.test(encoded)) return null;
  const bytes = Buffer.from(encoded, 'base64');
  // Canonical only: the decoded bytes encode back to exactly the text given.
  if (bytes.toString('base64') !== encoded) return null;
  return bytes.length >= SECRET_MIN_BYTES && bytes.length <= SECRET_MAX_BYTES ? bytes : null;
}

/** Seals and opens stored webhook secrets. */
export class WebhookSecretBox {
  private readonly box: SecretBox;

  constructor(keyHashSecret: string) {
    this.box = new SecretBox(keyHashSecret, 'webhook signing secrets');
  }

  seal(secret: string): string {
    return this.box.seal(secret);
  }

  /** The secret; throws when the stored value was sealed under another KEY_HASH_SECRET. */
  open(sealed: string): string {
    const secret = this.box.open(sealed);
    if (secret === null) throw new Error('a webhook secret cannot be opened: was KEY_HASH_SECRET changed?');
    return secret;
  }
}
