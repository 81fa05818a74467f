/**
 * Alerts about keys that come from events rather than a sweep:
 *
 * - key.revoked, from the key events every process hears (its own revocations at once, other
 *   processes' through the key-change feed or Redis). Every instance raises it; the dedupKey
 *   `key.revoked:<keyId>` lets exactly one insert win. Listening here, rather than inside
 *   KeyService's revoke transaction, keeps the key lifecycle free of alerting; the cost is that a
 *   revocation made by a process that dies between commit and publish, while no other instance
 *   runs, raises no alert.
 * - key.new_ip, from the client addresses a usage write saw for the first time (returned by that
 *   write, at no extra statement), for keys with notifyOnNewIp. Raised after the usage write
 *   committed and apart from it: a failing alert never fails or delays usage.
 */
import type { Db } from '../data/client-types';
import type { NewClientAddress } from '../data/repositories/visibility-writes';
import type { KeyChange } from '@keyward/guard';
import type { Logger } from '../logger';
import type { AlertService } from './alert-service';

/** At most this many key.new_ip alerts per usage batch: a flood of new addresses (a leaked key in a botnet) must not become a flood of transactions. */
export const MAX_NEW_IP_ALERTS_PER_BATCH = 100;
const ID_CHUNK = 400;

/** Where KeyAlerts reads keys and raises alerts. */
export interface KeyAlertsOptions {
  db: Db;
  alerts: AlertService;
  logger: Logger;
}

/** Raises key.revoked and key.new_ip alerts; drain() waits for those in flight (at close). */
export class KeyAlerts {
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: KeyAlertsOptions) {}

  /** For KeyEventBus.subscribe: raises key.revoked for revocations heard from any process. */
  onKeyChange(change: KeyChange): void {
    if (change.kind !== 'revoked') return;
    this.track(this.revoked(change.keyId, change.tenantId), 'raising a key.revoked alert failed');
  }

  /** For the usage writer: raises key.new_ip for new addresses of keys that asked for it. */
  onNewAddresses(pairs: readonly NewClientAddress[]): void {
    if (pairs.length === 0) return;
    this.track(this.newAddresses(pairs), 'raising key.new_ip alerts failed');
  }

  /** Resolves when every alert started so far is written (or failed). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track(work: Promise<unknown>, message: string): void {
    const settled = work.catch((error) => this.options.logger.warn({ err: error }, message)).finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  private async revoked(keyId: string, tenantId: string): Promise<void> {
    const key = await this.options.db.apiKey.findUnique({ where: { id: keyId }, select: { name: true, status: true, revokedAt: true } });
    // Deleted since, or the change was undone before we looked: nothing true to report.
    if (!key || key.status !== 'revoked') return;
    await this.options.alerts.raise({
      tenantId,
      type: 'key.revoked',
      dedupKey: `key.revoked:${keyId}`,
      data: { keyId, keyName: key.name, revokedAt: key.revokedAt?.toISOString() ?? null },
    });
  }

  private async newAddresses(pairs: readonly NewClientAddress[]): Promise<void> {
    const keyIds = [...new Set(pairs.map((p) => p.keyId))];
    const watched = new Map<string, string>();
    for (let i = 0; i < keyIds.length; i += ID_CHUNK) {
      const rows = await this.options.db.apiKey.findMany({
        where: { id: { in: keyIds.slice(i, i + ID_CHUNK) }, notifyOnNewIp: true },
        select: { id: true, name: true },
      });
      for (const row of rows) watched.set(row.id, row.name);
    }
    const alerts = pairs.filter((p) => watched.has(p.keyId));
    if (alerts.length > MAX_NEW_IP_ALERTS_PER_BATCH) {
      this.options.logger.warn({ newAddresses: alerts.length, alerted: MAX_NEW_IP_ALERTS_PER_BATCH }, 'too many new client addresses in one batch: some raise no key.new_ip alert');
    }
    for (const pair of alerts.slice(0, MAX_NEW_IP_ALERTS_PER_BATCH)) {
      await this.options.alerts.raise({
        tenantId: pair.tenantId,
        type: 'key.new_ip',
        dedupKey: `key.new_ip:${pair.keyId}:${pair.ip}`,
        data: { keyId: pair.keyId, keyName: watched.get(pair.keyId), ip: pair.ip },
      });
    }
  }
}
