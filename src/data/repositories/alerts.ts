/** Alerts and the deliveries they fan out to (see src/alerts/alert-service.ts). */
import type { AlertRecord, AlertType } from '../../alerts/alert-types';
import { newSortableId } from '@keyward/guard';
import type { Db, Prisma, Tx } from '../client-types';

/** An alert row to write, with the webhooks it goes to. */
export interface NewAlert {
  tenantId: string;
  type: AlertType;
  dedupKey: string;
  data: Record<string, unknown>;
  at: Date;
}

/**
 * Inserts the alert; throws a unique violation (P2002) when (tenantId, dedupKey) exists. Call it
 * first in a transaction of its own: on PostgreSQL a failed statement ends the transaction.
 */
export async function insertAlert(tx: Tx, alert: NewAlert): Promise<AlertRecord> {
  const row = await tx.alert.create({
    data: {
      id: newSortableId(),
      tenantId: alert.tenantId,
      type: alert.type,
      dedupKey: alert.dedupKey,
      data: alert.data as Prisma.InputJsonValue,
      createdAt: alert.at,
    },
  });
  return toAlert(row);
}

/** Enabled webhooks of the tenant (ids and event lists) that a new alert may go to. */
export async function enabledWebhookEvents(tx: Tx, tenantId: string): Promise<{ id: string; events: string }[]> {
  return tx.webhook.findMany({ where: { tenantId, enabled: true }, select: { id: true, events: true } });
}

/** One pending delivery per webhook, due at `at`. */
export async function insertDeliveries(tx: Tx, alertId: string, webhookIds: string[], at: Date): Promise<void> {
  if (webhookIds.length === 0) return;
  await tx.webhookDelivery.createMany({
    data: webhookIds.map((webhookId) => ({ id: newSortableId(), webhookId, alertId, status: 'pending', attempts: 0, nextAttemptAt: at, createdAt: at })),
  });
}

/** The tenant's most recent alerts, newest first. */
export async function listRecentAlerts(db: Db, tenantId: string, limit: number): Promise<AlertRecord[]> {
  const rows = await db.alert.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: limit });
  return rows.map(toAlert);
}

/** An alert by id, or null. */
export async function findAlert(db: Db, id: string): Promise<AlertRecord | null> {
  const row = await db.alert.findUnique({ where: { id } });
  return row ? toAlert(row) : null;
}

function toAlert(row: { id: string; tenantId: string; type: string; dedupKey: string; data: unknown; createdAt: Date }): AlertRecord {
  return {
    id: row.id,
    tenantId: row.tenantId,
    type: row.type as AlertType,
    dedupKey: row.dedupKey,
    data: (row.data ?? {}) as Record<string, unknown>,
    createdAt: row.createdAt,
  };
}

/** Deletes deliveries that ended (delivered or failed) before `cutoff`; returns how many. */
export async function deleteFinishedDeliveriesBefore(db: Db, cutoff: Date): Promise<number> {
  const { count } = await db.webhookDelivery.deleteMany({ where: { status: { in: ['delivered', 'failed'] }, lastAttemptAt: { lt: cutoff } } });
  return count;
}
