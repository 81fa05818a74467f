/**
 * Standard Webhooks signatures: `v1,` + base64 HMAC-SHA256, keyed with the secret's decoded bytes,
 * over `${id}.${timestamp}.${body}`. Receivers verify with any Standard Webhooks library.
 */
import { createHmac } from 'node:crypto';
import { secretBytes } from './webhook-secret';

/** The headers of one signed delivery. */
export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/** Signs `body` for message `id` at `at`; throws on a malformed secret (never stored). */
export function signWebhook(secret: string, id: string, at: Date, body: string): SignedHeaders {
  const key = secretBytes(secret);
  if (!key) throw new Error('malformed webhook secret');
  const timestamp = String(Math.floor(at.getTime() / 1000));
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
