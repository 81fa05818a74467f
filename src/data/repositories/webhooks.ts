/** Webhooks and their deliveries (src/webhooks). Ids come in from callers: always scoped by tenant. */
import { newSortableId } from '@keyward/guard';
import type { Db, Tx } from '../client-types';

/** A stored webhook (secret still sealed). */
export interface WebhookRow {
  id: string;
  tenantId: string;
  url: string;
  secretSealed: string;
  events: string[];
  enabled: boolean;
  description: string;
  createdAt: Date;
  updatedAt: Date;
}

/** The settings a webhook change writes. */
export interface WebhookFields {
  url: string;
  events: string[];
  enabled: boolean;
  description: string;
}

/** Where a delivery stands: pending (due or claimed), delivered (2xx), failed (given up). */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

/** A delivery with its alert's type, for the delivery log. */
export interface DeliveryRow {
  id: string;
  webhookId: string;
  alertId: string;
  type: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastAttemptAt: Date | null;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: Date;
}

type RawWebhook = Omit<WebhookRow, 'events'> & { events: string };

function toWebhook(row: RawWebhook): WebhookRow {
  return { ...row, events: row.events.split(',').filter(Boolean) };
}

/** Inserts a webhook. */
export async function insertWebhook(tx: Tx, tenantId: string, fields: WebhookFields, secretSealed: string, at: Date): Promise<WebhookRow> {
  const row = await tx.webhook.create({
    data: { id: newSortableId(), tenantId, ...fields, events: fields.events.join(','), secretSealed, createdAt: at, updatedAt: at },
  });
  return toWebhook(row);
}

/** A webhook of the tenant, or null (other tenants' webhooks read as missing). */
export async function findWebhook(db: Db | Tx, tenantId: string, id: string): Promise<WebhookRow | null> {
  const row = await db.webhook.findFirst({ where: { id, tenantId } });
  return row ? toWebhook(row) : null;
}

/** A webhook by id in any tenant (for the delivery worker), or null. */
export async function findWebhookById(db: Db, id: string): Promise<WebhookRow | null> {
  const row = await db.webhook.findUnique({ where: { id } });
  return row ? toWebhook(row) : null;
}

/** The tenant's webhooks, oldest first. */
export async function listWebhooks(db: Db, tenantId: string): Promise<WebhookRow[]> {
  const rows = await db.webhook.findMany({ where: { tenantId }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: 100 });
  return rows.map(toWebhook);
}

/** How many webhooks the tenant has. */
export async function countWebhooks(db: Db | Tx, tenantId: string): Promise<number> {
  return db.webhook.count({ where: { tenantId } });
}

/** Writes new settings (and a new sealed secret, when given). */
export async function updateWebhook(tx: Tx, id: string, fields: WebhookFields, secretSealed: string | null, at: Date): Promise<WebhookRow> {
  const row = await tx.webhook.update({
    where: { id },
    data: { ...fields, events: fields.events.join(','), ...(secretSealed ? { secretSealed } : {}), updatedAt: at },
  });
  return toWebhook(row);
}

/** Deletes a webhook and its deliveries (foreign key cascade). */
export async function deleteWebhook(tx: Tx, id: string): Promise<void> {
  await tx.webhook.delete({ where: { id } });
}

const withType = { alert: { select: { type: true } } } as const;

function toDelivery(row: Omit<DeliveryRow, 'type' | 'status'> & { status: string; alert: { type: string } }): DeliveryRow {
  const { alert, ...rest } = row;
  return { ...rest, status: rest.status as DeliveryStatus, type: alert.type };
}

/** A webhook's deliveries, newest first. */
export async function listDeliveries(db: Db, webhookId: string, limit: number): Promise<DeliveryRow[]> {
  const rows = await db.webhookDelivery.findMany({ where: { webhookId }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: limit, include: withType });
  return rows.map(toDelivery);
}

/** Due pending deliveries of enabled webhooks, soonest first. */
export async function findDueDeliveries(db: Db, now: Date, limit: number): Promise<{ id: string; nextAttemptAt: Date }[]> {
  return db.webhookDelivery.findMany({
    where: { status: 'pending', nextAttemptAt: { lte: now }, webhook: { enabled: true } },
    orderBy: { nextAttemptAt: 'asc' },
    take: limit,
    select: { id: true, nextAttemptAt: true },
  });
}

/**
 * Claims a due delivery for one attempt by moving its due time to the end of a lease: only the
 * process whose compare-and-set matched the due time it read gets count 1. Works alike on SQLite
 * and PostgreSQL (a single-row UPDATE is atomic on both).
 */
export async function claimDelivery(db: Db, id: string, seenDueAt: Date, leaseUntil: Date): Promise<boolean> {
  const { count } = await db.webhookDelivery.updateMany({
    where: { id, status: 'pending', nextAttemptAt: seenDueAt },
    data: { nextAttemptAt: leaseUntil },
  });
  return count === 1;
}

/** What a claimed attempt needs: the delivery, its alert and its webhook. */
export async function loadClaimed(db: Db, id: string) {
  return db.webhookDelivery.findUnique({ where: { id }, include: { alert: true, webhook: true } });
}

/** The result of an attempt; written only while this process still holds the claim (its lease). */
export async function finishAttempt(
  db: Db,
  id: string,
  leaseUntil: Date,
  result: { status: DeliveryStatus; attempts: number; nextAttemptAt: Date; lastAttemptAt: Date | null; lastStatusCode: number | null; lastError: string | null },
): Promise<boolean> {
  const { count } = await db.webhookDelivery.updateMany({ where: { id, nextAttemptAt: leaseUntil, status: 'pending' }, data: result });
  return count === 1;
}

/** Queues a delivery of the webhook again, due now. Returns false when it is not this webhook's. */
export async function requeueDelivery(tx: Tx, webhookId: string, deliveryId: string, at: Date): Promise<boolean> {
  const { count } = await tx.webhookDelivery.updateMany({
    where: { id: deliveryId, webhookId },
    data: { status: 'pending', nextAttemptAt: at, createdAt: at, lastError: null },
  });
  return count === 1;
}
