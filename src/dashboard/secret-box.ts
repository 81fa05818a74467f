/**
 * Seals a freshly issued key secret for the few milliseconds between "create" and the one-time
 * secret page (it travels in the session row). AES-256-GCM under a key derived from
 * SESSION_SECRET, so a copy of the database alone does not reveal a secret still waiting there.
 * Other uses (form drafts) derive their own key by naming another purpose.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/** Encrypts and decrypts short strings with a key derived from the session secret. */
export class SecretBox {
  private readonly key: Buffer;

  constructor(sessionSecret: string, purpose = 'dashboard one-time secrets') {
    this.key = Buffer.from(hkdfSync('sha256', sessionSecret, 'keyward', purpose, 32));
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [iv, cipher.getAuthTag(), body].map((part) => part.toString('base64url')).join('.');
  }

  /** The plain text, or null when the box was not sealed with this key or was altered. */
  open(sealed: string): string | null {
    const [iv, tag, body] = sealed.split('.').map((part) => Buffer.from(part, 'base64url'));
    if (!iv || !tag || !body) return null;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, iv);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
    } catch {
      return null;
    }
  }
}
