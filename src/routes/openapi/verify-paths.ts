/**
 * The OpenAPI paths of key verification for other services (POST /api/v1/keys/verify and the
 * settlement of its reservation; routes in routes/management/verify.ts), from the zod schemas
 * that validate the bodies and type the answers; and the key change feed that services caching
 * verify answers follow (GET /api/v1/keys/changes, server-sent events; routes/management/key-feed.ts).
 */
import type { z } from 'zod';
import { settleResultSchema, verifyResultSchema } from '../../presenters/verify-presenter';
import { settleRequestSchema, verifyRequestSchema } from '../../verify/verify-input';
import type { KeyChange } from '@keyward/guard';
import type { DocumentHelpers } from './webhook-paths';

const CHANGE_KINDS = ['created', 'updated', 'revoked', 'deactivated', 'activated', 'deleted', 'regenerated', 'rotated', 'usage_reset'] as const satisfies readonly KeyChange['kind'][];

/** The feed's `key` event data, inline (a component named only by `x-event-data` would be an unused one). */
const keyChangeEvent = {
  type: 'object',
  properties: { keyId: { type: 'string' }, kind: { type: 'string', enum: CHANGE_KINDS } },
  required: ['keyId', 'kind'],
};

const FEED_DESCRIPTION = [
  'Server-sent events, one connection per client (counted once in the caller\'s `verify` window; events count nothing). Only changes of keys of the caller\'s tenant.',
  '`retry: 2000` first; `event: ready` (data `{"heartbeatMs"}`) once connected; `event: key` (data `{"keyId","kind"}`) per change;',
  '`event: reset` (data `{}`) when a `Last-Event-ID` cannot be resumed: drop every cached answer; a `: heartbeat` comment every `heartbeat` seconds.',
  'Every event carries an `id:` cursor; reconnect with it in `Last-Event-ID` to receive the changes missed meanwhile, or a reset.',
].join(' ');

/** The component schemas, by direction (request bodies are `input`, responses `output`). */
export const verifyComponents = {
  input: { VerifyRequest: verifyRequestSchema, SettleRequest: settleRequestSchema } as Record<string, z.ZodType>,
  output: { VerifyResult: verifyResultSchema, SettleResult: settleResultSchema } as Record<string, z.ZodType>,
};

/** The paths, for document.ts's `paths`. */
export function verifyPaths({ operation, ref, json, guardErrors }: DocumentHelpers): Record<string, unknown> {
  const scopes = ['keys:verify'];
  return {
    '/api/v1/keys/verify': {
      post: operation({
        id: 'verifyKey',
        summary: 'Verify a key presented to another service, and reserve what its request may use',
        scopes,
        request: ref('VerifyRequest'),
        ok: { status: 200, description: 'The verdict', content: json(ref('VerifyResult')) },
        errors: [400, ...guardErrors, 413],
      }),
    },
    '/api/v1/keys/changes': {
      get: operation({
        id: 'followKeyChanges',
        summary: 'Follow changes of the tenant\'s keys (server-sent events), to drop cached verify answers',
        scopes,
        parameters: [
          { name: 'heartbeat', in: 'query', required: false, description: 'Seconds between heartbeat comments.', schema: { type: 'integer', minimum: 1, maximum: 60, default: 15 } },
          { name: 'Last-Event-ID', in: 'header', required: false, description: 'The last `id:` received, to resume after a reconnection.', schema: { type: 'string' } },
        ],
        ok: { status: 200, description: 'The change stream', content: { 'text/event-stream': { schema: { type: 'string', description: FEED_DESCRIPTION, 'x-event-data': keyChangeEvent } } } },
        errors: [400, ...guardErrors],
      }),
    },
    '/api/v1/keys/verify/{reservationId}/settle': {
      post: operation({
        id: 'settleKeyVerification',
        summary: 'Settle a verified request\'s reservation with what it really used',
        scopes,
        parameters: [{ name: 'reservationId', in: 'path', required: true, description: 'The `reservationId` the verification answered.', schema: { type: 'string' } }],
        request: ref('SettleRequest'),
        ok: { status: 200, description: 'Settled', content: json(ref('SettleResult')) },
        errors: [400, ...guardErrors, 404, 409],
      }),
    },
  };
}
