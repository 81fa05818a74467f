/**
 * The OpenAPI paths and components of /api/v1/webhooks and /api/v1/alerts, built with
 * document.ts's helpers (passed in, so the document keeps one style) from the same zod schemas
 * that validate bodies and type the presenters.
 */
import type { z } from 'zod';
import { webhookCreateSchema, webhookUpdateSchema } from '../../webhooks/webhook-input';
import {
  alertListSchema,
  deliveryListSchema,
  webhookListSchema,
  webhookSchema,
  webhookWithSecretSchema,
} from '../../presenters/webhook-presenter';

type JsonSchema = Record<string, unknown>;

/** What document.ts lends: its operation builder and small helpers. */
export interface DocumentHelpers {
  operation(spec: {
    /** The operationId: unique in the document, camelCase. */
    id: string;
    summary: string;
    scopes: string[];
    request?: JsonSchema;
    ok: { status: number; description: string; content?: Record<string, unknown> };
    errors: number[];
    parameters?: unknown[];
  }): unknown;
  ref(name: string): { $ref: string };
  json(schema: JsonSchema): Record<string, unknown>;
  guardErrors: number[];
}

/** The component schemas, by direction (request bodies are `input`, responses `output`). */
export const webhookComponents = {
  input: { WebhookCreate: webhookCreateSchema, WebhookUpdate: webhookUpdateSchema } as Record<string, z.ZodType>,
  output: {
    Webhook: webhookSchema,
    WebhookWithSecret: webhookWithSecretSchema,
    WebhookList: webhookListSchema,
    DeliveryList: deliveryListSchema,
    AlertList: alertListSchema,
  } as Record<string, z.ZodType>,
};

/** The paths, for document.ts's `paths`. */
export function webhookPaths({ operation, ref, json, guardErrors }: DocumentHelpers): Record<string, unknown> {
  const read = ['keys:read'];
  const admin = ['admin'];
  const id = { name: 'id', in: 'path', required: true, description: 'The webhook\'s id.', schema: { type: 'string' } };
  const limit = (fallback: number) => ({ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: fallback } });
  const queued = { status: 202, description: 'Queued.', content: json({ type: 'object', properties: { queued: { const: true } }, required: ['queued'] }) };
  return {
    '/api/v1/webhooks': {
      post: operation({
        id: 'createWebhook',
        summary: 'Create a webhook: alerts of the listed types are POSTed to the URL, signed (Standard Webhooks). The secret is generated unless given, and shown only here',
        scopes: admin,
        request: ref('WebhookCreate'),
        ok: { status: 201, description: 'The webhook and its signing secret.', content: json(ref('WebhookWithSecret')) },
        errors: [400, ...guardErrors, 409, 413],
      }),
      get: operation({ id: 'listWebhooks', summary: 'The tenant\'s webhooks (never their secrets)', scopes: read, ok: { status: 200, description: 'Webhooks', content: json(ref('WebhookList')) }, errors: guardErrors }),
    },
    '/api/v1/webhooks/{id}': {
      get: operation({ id: 'getWebhook', summary: 'One webhook', scopes: read, parameters: [id], ok: { status: 200, description: 'The webhook', content: json(ref('Webhook')) }, errors: [...guardErrors, 404] }),
      patch: operation({
        id: 'updateWebhook',
        summary: 'Change url, events, enabled, description (absent fields stay); `rotateSecret: true` replaces the secret at once and returns the new one',
        scopes: admin,
        parameters: [id],
        request: ref('WebhookUpdate'),
        ok: { status: 200, description: 'The webhook (with `secret` after a rotation).', content: json({ oneOf: [ref('WebhookWithSecret'), ref('Webhook')] }) },
        errors: [400, ...guardErrors, 404],
      }),
      delete: operation({ id: 'deleteWebhook', summary: 'Delete a webhook and its delivery log', scopes: admin, parameters: [id], ok: { status: 204, description: 'Deleted' }, errors: [...guardErrors, 404] }),
    },
    '/api/v1/webhooks/{id}/deliveries': {
      get: operation({
        id: 'listWebhookDeliveries',
        summary: 'The webhook\'s deliveries, newest first: status, attempts, last answer, next attempt',
        scopes: read,
        parameters: [id, limit(50)],
        ok: { status: 200, description: 'Deliveries', content: json(ref('DeliveryList')) },
        errors: [400, ...guardErrors, 404],
      }),
    },
    '/api/v1/webhooks/{id}/deliveries/{deliveryId}/redeliver': {
      post: operation({
        id: 'redeliverWebhookDelivery',
        summary: 'Queue a delivery again, due now (a new 24-hour retry window)',
        scopes: admin,
        parameters: [id, { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string' } }],
        ok: queued,
        errors: [...guardErrors, 404],
      }),
    },
    '/api/v1/webhooks/{id}/test': {
      post: operation({
        id: 'testWebhook',
        summary: 'Send a `webhook.test` event to this webhook only',
        scopes: admin,
        parameters: [id],
        ok: queued,
        errors: [...guardErrors, 404, 409],
      }),
    },
    '/api/v1/alerts': {
      get: operation({
        id: 'listAlerts',
        summary: 'The tenant\'s recent alerts, newest first (what webhooks are sent)',
        scopes: read,
        parameters: [limit(20)],
        ok: { status: 200, description: 'Alerts', content: json(ref('AlertList')) },
        errors: [400, ...guardErrors],
      }),
    },
  };
}
