/**
 * What leaves the server about webhooks, deliveries and alerts. The zod schemas are the contract:
 * the presenters' types come from them and the OpenAPI document is generated from them. The
 * signing secret appears only in `WebhookWithSecret` (create and rotation).
 */
import { z } from 'zod';
import { ALERT_TYPES, SUBSCRIBABLE_TYPES } from '../alerts/alert-types';
import type { AlertRecord } from '../alerts/alert-types';
import type { DeliveryRow, WebhookRow } from '../data/repositories/webhooks';

const isoDate = z.iso.datetime({ offset: true });

/** A webhook as the API shows it (never its secret). */
export const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(SUBSCRIBABLE_TYPES)),
  enabled: z.boolean(),
  description: z.string(),
  createdAt: isoDate,
  updatedAt: isoDate,
});

/** A webhook with its signing secret: the answer of create and of a rotation only. */
export const webhookWithSecretSchema = webhookSchema.extend({
  secret: z.string().describe('whsec_... : shown only here. Verify deliveries with it (Standard Webhooks).'),
});

/** GET /api/v1/webhooks. */
export const webhookListSchema = z.object({ data: z.array(webhookSchema) });

/** One alert's delivery to one webhook, as the delivery log shows it. */
export const deliverySchema = z.object({
  id: z.string(),
  alertId: z.string().describe('Also the `webhook-id` header of every attempt.'),
  type: z.enum(ALERT_TYPES),
  status: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number().int(),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: isoDate.nullable().describe('When a pending delivery is tried next; null once delivered or failed.'),
  lastAttemptAt: isoDate.nullable(),
  createdAt: isoDate,
});

/** GET /api/v1/webhooks/{id}/deliveries. */
export const deliveryListSchema = z.object({ data: z.array(deliverySchema) });

/** An alert as GET /api/v1/alerts shows it (data as the webhook payload carries it). */
export const alertSchema = z.object({
  id: z.string(),
  type: z.enum(ALERT_TYPES),
  createdAt: isoDate,
  data: z.record(z.string(), z.unknown()),
});

/** GET /api/v1/alerts. */
export const alertListSchema = z.object({ data: z.array(alertSchema) });

/** The presenters' output types, inferred from the schemas. */
export type WebhookView = z.infer<typeof webhookSchema>;
export type DeliveryView = z.infer<typeof deliverySchema>;
export type AlertView = z.infer<typeof alertSchema>;

/** The API view of a webhook (never its secret). */
export function presentWebhook(webhook: WebhookRow): WebhookView {
  return {
    id: webhook.id,
    url: webhook.url,
    events: webhook.events as WebhookView['events'],
    enabled: webhook.enabled,
    description: webhook.description,
    createdAt: webhook.createdAt.toISOString(),
    updatedAt: webhook.updatedAt.toISOString(),
  };
}

/** The API view of a delivery. */
export function presentDelivery(delivery: DeliveryRow): DeliveryView {
  return {
    id: delivery.id,
    alertId: delivery.alertId,
    type: delivery.type as DeliveryView['type'],
    status: delivery.status,
    attempts: delivery.attempts,
    lastStatusCode: delivery.lastStatusCode,
    lastError: delivery.lastError,
    nextAttemptAt: delivery.status === 'pending' ? delivery.nextAttemptAt.toISOString() : null,
    lastAttemptAt: delivery.lastAttemptAt?.toISOString() ?? null,
    createdAt: delivery.createdAt.toISOString(),
  };
}

/** The API view of an alert (its data as the webhook payload carries it). */
export function presentAlert(alert: AlertRecord): AlertView {
  return { id: alert.id, type: alert.type, createdAt: alert.createdAt.toISOString(), data: { ...alert.data, tenantId: alert.tenantId } };
}
