/**
 * The OpenAPI paths of key verification for other services (POST /api/v1/keys/verify and the
 * settlement of its reservation; routes in routes/management/verify.ts), from the zod schemas
 * that validate the bodies and type the answers.
 */
import type { z } from 'zod';
import { settleResultSchema, verifyResultSchema } from '../../presenters/verify-presenter';
import { settleRequestSchema, verifyRequestSchema } from '../../verify/verify-input';
import type { DocumentHelpers } from './webhook-paths';

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
