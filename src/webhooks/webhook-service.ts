/**
 * A tenant's webhooks: create, read, change, delete, the delivery log, redelivery and the test
 * event. Every change is audited in its transaction (targetType `webhook`); the signing secret is
 * returned only by create and rotation, stored sealed, and never written to the audit log: a
 * rotation is recorded as `secret: {before: "(previous)", after: "(rotated)"}`. URLs are audited
 * without their query string, where receivers often carry tokens.
 */
import type { AlertService } from '../alerts/alert-service';
import type { Actor, AuditChanges } from '../audit/audit-types';
import { diffFields } from '../audit/audit-types';
import type { Tx } from '../data/client-types';
import type { Database } from '../data/database';
import { insertAuditEvent } from '../data/repositories/audit-events';
import {
  countWebhooks,
  type DeliveryRow,
  deleteWebhook,
  findWebhook,
  insertWebhook,
  listDeliveries,
  listWebhooks,
  requeueDelivery,
  updateWebhook,
  type WebhookFields,
  type WebhookRow,
} from '../data/repositories/webhooks';
import { AppError, notFound, validationError } from '../errors';
import { newId } from '@keyward/guard';
import { parseInput } from '../lib/validation';
import { webhookCreateSchema, webhookUpdateSchema } from './webhook-input';
import { generateWebhookSecret, type WebhookSecretBox } from './webhook-secret';
import { urlProblem } from './webhook-url';

/** A tenant may have this many webhooks. */
export const MAX_WEBHOOKS_PER_TENANT = 20;

/** The database, the secret box, the alert service (test events) and WEBHOOK_ALLOW_PRIVATE. */
export interface WebhookServiceOptions {
  database: Database;
  secrets: WebhookSecretBox;
  alerts: AlertService;
  /** WEBHOOK_ALLOW_PRIVATE. */
  allowPrivate: boolean;
  clock?: () => Date;
}

/** A webhook with the secret shown once (create, rotation). */
export interface WebhookWithSecret {
  webhook: WebhookRow;
  secret: string | null;
}

/** The URL as the audit log keeps it: no query string or fragment. */
export function auditUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}${parsed.search ? '?…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

const AUDITED: (keyof WebhookFields)[] = ['url', 'events', 'enabled', 'description'];

/** Webhook management inside one tenant. */
export class WebhookService {
  private readonly db: Database;
  private readonly now: () => Date;

  constructor(private readonly options: WebhookServiceOptions) {
    this.db = options.database;
    this.now = options.clock ?? (() => new Date());
  }

  /** Creates a webhook; returns it with its secret (generated unless given). */
  async create(tenantId: string, input: unknown, actor: Actor): Promise<WebhookWithSecret> {
    const value = parseInput(webhookCreateSchema, input);
    await this.assertUrl(value.url);
    const secret = value.secret ?? generateWebhookSecret();
    const fields: WebhookFields = { url: value.url, events: value.events, enabled: value.enabled ?? true, description: value.description ?? '' };
    const at = this.now();
    const webhook = await this.db.transaction(async (tx) => {
      if ((await countWebhooks(tx, tenantId)) >= MAX_WEBHOOKS_PER_TENANT) {
        throw new AppError({ status: 409, code: 'invalid_state', message: `A tenant may have at most ${MAX_WEBHOOKS_PER_TENANT} webhooks.` });
      }
      const created = await insertWebhook(tx, tenantId, fields, this.options.secrets.seal(secret), at);
      const empty = { url: null, events: null, enabled: null, description: null } as unknown as WebhookFields;
      await this.audit(tx, created, actor, 'webhook.create', this.changes(empty, fields), at);
      return created;
    });
    return { webhook, secret };
  }

  /** The tenant's webhooks. */
  list(tenantId: string): Promise<WebhookRow[]> {
    return listWebhooks(this.db.prisma, tenantId);
  }

  /** A webhook of the tenant; 404 for unknown ids and other tenants' webhooks alike. */
  async get(tenantId: string, id: string): Promise<WebhookRow> {
    const webhook = typeof id === 'string' && id.length <= 64 ? await findWebhook(this.db.prisma, tenantId, id) : null;
    if (!webhook) throw notFound('Webhook');
    return webhook;
  }

  /** Changes settings (absent fields stay); `rotateSecret: true` returns a new secret. */
  async update(tenantId: string, id: string, input: unknown, actor: Actor): Promise<WebhookWithSecret> {
    await this.get(tenantId, id);
    const value = parseInput(webhookUpdateSchema, input);
    if (value.url !== undefined) await this.assertUrl(value.url);
    const secret = value.rotateSecret ? generateWebhookSecret() : null;
    const at = this.now();
    const webhook = await this.db.transaction(async (tx) => {
      const before = await findWebhook(tx, tenantId, id);
      if (!before) throw notFound('Webhook');
      const fields: WebhookFields = {
        url: value.url ?? before.url,
        events: value.events ?? before.events,
        enabled: value.enabled ?? before.enabled,
        description: value.description ?? before.description,
      };
      const changes = this.changes(before, fields);
      if (secret) changes.secret = { before: '(previous)', after: '(rotated)' };
      if (Object.keys(changes).length === 0) return before;
      const updated = await updateWebhook(tx, id, fields, secret ? this.options.secrets.seal(secret) : null, at);
      await this.audit(tx, updated, actor, secret ? 'webhook.rotate_secret' : 'webhook.update', changes, at);
      return updated;
    });
    return { webhook, secret };
  }

  /** Deletes a webhook and its delivery log. */
  async delete(tenantId: string, id: string, actor: Actor): Promise<void> {
    await this.get(tenantId, id);
    const at = this.now();
    await this.db.transaction(async (tx) => {
      const webhook = await findWebhook(tx, tenantId, id);
      if (!webhook) throw notFound('Webhook');
      await deleteWebhook(tx, id);
      await this.audit(tx, webhook, actor, 'webhook.delete', { url: { before: auditUrl(webhook.url), after: null } }, at);
    });
  }

  /** The webhook's deliveries, newest first (1-100). */
  async deliveries(tenantId: string, id: string, limit = 50): Promise<DeliveryRow[]> {
    await this.get(tenantId, id);
    return listDeliveries(this.db.prisma, id, Math.min(Math.max(Math.trunc(limit) || 1, 1), 100));
  }

  /** Queues a delivery of this webhook again, due now; 404 for another webhook's delivery. */
  async redeliver(tenantId: string, id: string, deliveryId: string, actor: Actor): Promise<void> {
    const webhook = await this.get(tenantId, id);
    const at = this.now();
    await this.db.transaction(async (tx) => {
      if (typeof deliveryId !== 'string' || !(await requeueDelivery(tx, webhook.id, deliveryId, at))) throw notFound('Delivery');
      await this.audit(tx, webhook, actor, 'webhook.redeliver', { deliveryId: { before: null, after: deliveryId } }, at);
    });
  }

  /** Raises a `webhook.test` alert delivered to this webhook only (even if it does not list the type). */
  async sendTest(tenantId: string, id: string, actor: Actor): Promise<void> {
    const webhook = await this.get(tenantId, id);
    if (!webhook.enabled) throw new AppError({ status: 409, code: 'invalid_state', message: 'This webhook is disabled: enable it to send a test event.' });
    const eventId = newId();
    await this.options.alerts.raise(
      { tenantId, type: 'webhook.test', dedupKey: `webhook.test:${webhook.id}:${eventId}`, data: { webhookId: webhook.id, message: 'A test event from Keyward.' } },
      { onlyWebhookId: webhook.id },
    );
    await this.db.transaction((tx) => this.audit(tx, webhook, actor, 'webhook.test', {}, this.now()));
  }

  private async assertUrl(url: string): Promise<void> {
    const problem = await urlProblem(url, this.options.allowPrivate);
    if (problem) throw validationError([{ field: 'url', message: problem }]);
  }

  private changes(before: WebhookFields, after: WebhookFields): AuditChanges {
    const changes = diffFields(before, after, AUDITED);
    if (changes.url) changes.url = { before: before.url ? auditUrl(before.url) : null, after: auditUrl(after.url) };
    return changes;
  }

  private audit(tx: Tx, webhook: WebhookRow, actor: Actor, action: string, changes: AuditChanges, at: Date): Promise<void> {
    return insertAuditEvent(
      tx,
      { tenantId: webhook.tenantId, actor, action, targetType: 'webhook', targetId: webhook.id, targetLabel: auditUrl(webhook.url), changes },
      at,
    );
  }
}
