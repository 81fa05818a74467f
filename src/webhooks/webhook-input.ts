/**
 * Validation of webhook settings, shared by the management API and the dashboard. Create needs
 * `url` and `events`; update takes any of url, events, enabled, description and `rotateSecret`.
 */
import { z } from 'zod';
import { SUBSCRIBABLE_TYPES } from '../alerts/alert-types';
import { isStorableText } from '../lib/storable-json';
import { secretBytes, SECRET_MAX_BYTES, SECRET_MIN_BYTES } from './webhook-secret';
import { MAX_URL_LENGTH, urlSyntaxProblem } from './webhook-url';

const url = z
  .string({ error: 'must be a string' })
  .trim()
  .min(1, 'must not be blank')
  .max(MAX_URL_LENGTH, `must be at most ${MAX_URL_LENGTH} characters`)
  // Scheme, credentials and form here, with the other fields; addresses are checked afterwards
  // (webhook-url.ts), as they depend on WEBHOOK_ALLOW_PRIVATE and may need a DNS lookup.
  .superRefine((value, ctx) => {
    const problem = value.length > MAX_URL_LENGTH ? null : urlSyntaxProblem(value, true);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .describe('http or https; no credentials; public addresses only unless WEBHOOK_ALLOW_PRIVATE=true.');

const events = z
  .array(z.enum(SUBSCRIBABLE_TYPES, { error: `must be one of ${SUBSCRIBABLE_TYPES.join(', ')}` }), { error: 'must be a list' })
  .min(1, 'must name at least one event')
  .max(SUBSCRIBABLE_TYPES.length, `must have at most ${SUBSCRIBABLE_TYPES.length} entries`)
  .transform((list) => [...new Set(list)]);

const description = z
  .string({ error: 'must be a string' })
  .refine(isStorableText, 'must not contain NUL characters or unpaired surrogates')
  .transform((v) => v.trim())
  .pipe(z.string().max(500, 'must be at most 500 characters'));

const secret = z
  .string({ error: 'must be a string' })
  .refine((v) => secretBytes(v) !== null, `must be whsec_ followed by base64 of ${SECRET_MIN_BYTES} to ${SECRET_MAX_BYTES} bytes`)
  .describe('Standard Webhooks format; generated when absent.');

const enabled = z.boolean({ error: 'must be true or false' });

/** The body of POST /api/v1/webhooks. */
export const webhookCreateSchema = z.strictObject(
  { url, events, secret: secret.optional(), description: description.optional(), enabled: enabled.optional() },
  { error: 'must be a JSON object' },
);

/** The body of PATCH /api/v1/webhooks/{id}. */
export const webhookUpdateSchema = z.strictObject(
  {
    url: url.optional(),
    events: events.optional(),
    description: description.optional(),
    enabled: enabled.optional(),
    rotateSecret: z.boolean({ error: 'must be true or false' }).optional().describe('true: a new secret is generated and returned once.'),
  },
  { error: 'must be a JSON object' },
);

/** Validated create and update bodies. */
export type WebhookCreateInput = z.output<typeof webhookCreateSchema>;
export type WebhookUpdateInput = z.output<typeof webhookUpdateSchema>;
