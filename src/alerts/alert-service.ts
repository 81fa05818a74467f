/**
 * Records alerts exactly once and queues their webhook deliveries. Any process may raise the same
 * alert (every instance hears a revocation; two sweeps may overlap): the unique (tenantId,
 * dedupKey) lets one insert win, and the deliveries are written in that same transaction, so an
 * alert exists with all its deliveries or not at all. Delivery itself is the worker's job
 * (src/webhooks/webhook-deliverer.ts), from the database, so it survives restarts.
 */
import type { Database } from '../data/database';
import { isUniqueViolation } from '../data/errors';
import { enabledWebhookEvents, insertAlert, insertDeliveries, listRecentAlerts } from '../data/repositories/alerts';
import { ALERT_TYPES, type AlertInput, type AlertRecord } from './alert-types';

/** The database alerts are written to, and who to tell when deliveries were queued. */
export interface AlertServiceOptions {
  database: Database;
  clock?: () => Date;
  /** Told after an alert with deliveries commits (this process's deliverer polls at once). */
  onQueued?: () => void;
}

/** How many recent alerts a list may ask for. */
export const MAX_ALERT_LIST = 100;

/** Raises and lists alerts. */
export class AlertService {
  private readonly db: Database;
  private readonly now: () => Date;
  private readonly onQueued: () => void;

  constructor(options: AlertServiceOptions) {
    this.db = options.database;
    this.now = options.clock ?? (() => new Date());
    this.onQueued = options.onQueued ?? (() => {});
  }

  /**
   * Records the alert once and queues one delivery per enabled webhook of the tenant listening
   * for its type (or, with `onlyWebhookId`, to that webhook of the tenant alone: the test event).
   * Returns false, writing nothing, when the tenant already has an alert with this dedupKey.
   */
  async raise(input: AlertInput, options: { onlyWebhookId?: string } = {}): Promise<boolean> {
    if (!(ALERT_TYPES as readonly string[]).includes(input.type)) throw new TypeError(`unknown alert type ${String(input.type)}`);
    if (!input.dedupKey) throw new TypeError('an alert needs a dedupKey');
    const at = this.now();
    let queued = 0;
    try {
      await this.db.transaction(async (tx) => {
        // First: on a duplicate the transaction ends here, before anything else was written.
        const alert = await insertAlert(tx, { ...input, at });
        const webhooks = await enabledWebhookEvents(tx, input.tenantId);
        const targets = webhooks.filter((w) =>
          options.onlyWebhookId ? w.id === options.onlyWebhookId : w.events.split(',').includes(input.type),
        );
        await insertDeliveries(tx, alert.id, targets.map((w) => w.id), at);
        queued = targets.length;
      });
    } catch (error) {
      if (isUniqueViolation(error)) return false;
      throw error;
    }
    if (queued > 0) this.onQueued();
    return true;
  }

  /** The tenant's most recent alerts, newest first (1 to MAX_ALERT_LIST). */
  async listRecent(tenantId: string, limit = 20): Promise<AlertRecord[]> {
    const take = Math.min(Math.max(Math.trunc(limit) || 1, 1), MAX_ALERT_LIST);
    return listRecentAlerts(this.db.prisma, tenantId, take);
  }
}
