/**
 * What alerts exist and what their webhook payload looks like. The payload follows Standard
 * Webhooks: `{"type", "timestamp", "data"}`, where `data` always names the tenant.
 */

/** Every alert type a webhook can subscribe to (webhook.test is sent only on request). */
export const ALERT_TYPES = [
  'budget.threshold',
  'quota.threshold',
  'key.expiring',
  'key.expired',
  'key.revoked',
  'key.new_ip',
  'webhook.test',
] as const;

/** One of ALERT_TYPES. */
export type AlertType = (typeof ALERT_TYPES)[number];

/** The types a webhook may list in its `events` (the test event reaches a webhook only on request). */
export const SUBSCRIBABLE_TYPES = ALERT_TYPES.filter((type) => type !== 'webhook.test');

/** What raise() needs: the dedupKey makes the alert happen once per tenant, whoever raises it. */
export interface AlertInput {
  tenantId: string;
  type: AlertType;
  dedupKey: string;
  data: Record<string, unknown>;
}

/** A stored alert. */
export interface AlertRecord {
  id: string;
  tenantId: string;
  type: AlertType;
  dedupKey: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** The body every delivery of an alert POSTs (identical across retries, so signatures are stable). */
export function alertPayload(alert: Pick<AlertRecord, 'type' | 'data' | 'createdAt' | 'tenantId'>): string {
  return JSON.stringify({ type: alert.type, timestamp: alert.createdAt.toISOString(), data: { ...alert.data, tenantId: alert.tenantId } });
}
