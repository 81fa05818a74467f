/**
 * key.expiring (7 days and 1 day before expiresAt) and key.expired alerts, found by a sweep every
 * minute in every instance. Each sweep looks at the time since the previous one (the first looks
 * back a day, covering a restart): keys whose expiry crossed a threshold in that window, plus keys
 * created or changed in it whose expiry is already inside 7 days. The dedupKey names the expiry
 * (`key.expiring:<keyId>:7d:<expiresAt ISO>`), so overlapping sweeps of several instances raise
 * an alert once, and a changed expiry arms the alerts again. Revoked keys are skipped. Queries
 * run in batches on the expiresAt index.
 */
import type { Db, Prisma } from '../data/client-types';
import type { Logger } from '../logger';
import type { AlertService } from './alert-service';

const DAY_MS = 86_400_000;
const THRESHOLDS = [
  { label: '7d', ms: 7 * DAY_MS },
  { label: '1d', ms: DAY_MS },
] as const;

/** What the sweep reads, where it raises, and how often (tests inject the clock). */
export interface ExpirySweepOptions {
  db: Db;
  alerts: AlertService;
  logger: Logger;
  clock?: () => Date;
  intervalMs?: number;
  /** How far back the first sweep looks (default a day). */
  lookbackMs?: number;
  batchSize?: number;
}

type ExpiringKey = { id: string; tenantId: string; name: string; expiresAt: Date | null };

/** Raises expiry alerts every interval until stopped. */
export class ExpirySweep {
  private readonly now: () => Date;
  private readonly batchSize: number;
  private lastSweep: Date;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> | null = null;

  constructor(private readonly options: ExpirySweepOptions) {
    this.now = options.clock ?? (() => new Date());
    this.batchSize = options.batchSize ?? 500;
    this.lastSweep = new Date(this.now().getTime() - (options.lookbackMs ?? DAY_MS));
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.sweepOnce()
        .catch((error) => this.options.logger.warn({ err: error }, 'the key expiry alert sweep failed; it runs again next minute'))
        .finally(() => (this.running = null));
    }, this.options.intervalMs ?? 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One sweep from the previous one to now; returns how many alerts it raised. */
  async sweepOnce(): Promise<number> {
    const from = this.lastSweep;
    const to = this.now();
    let raised = 0;
    for (const threshold of THRESHOLDS) {
      const window = { gt: new Date(from.getTime() + threshold.ms), lte: new Date(to.getTime() + threshold.ms) };
      raised += await this.each({ expiresAt: window }, (key) => this.expiring(key, threshold.label));
    }
    raised += await this.each({ expiresAt: { gt: from, lte: to } }, (key) => this.expired(key));
    // Created or changed since the last sweep with an expiry already inside 7 days: its tightest threshold.
    raised += await this.each({ expiresAt: { gt: to, lte: new Date(to.getTime() + THRESHOLDS[0].ms) }, updatedAt: { gt: from } }, (key) => {
      const left = (key.expiresAt as Date).getTime() - to.getTime();
      return this.expiring(key, left <= THRESHOLDS[1].ms ? '1d' : '7d');
    });
    this.lastSweep = to;
    return raised;
  }

  private expiring(key: ExpiringKey, threshold: string): Promise<boolean> {
    const expiresAt = (key.expiresAt as Date).toISOString();
    return this.options.alerts.raise({
      tenantId: key.tenantId,
      type: 'key.expiring',
      dedupKey: `key.expiring:${key.id}:${threshold}:${expiresAt}`,
      data: { keyId: key.id, keyName: key.name, expiresAt, threshold },
    });
  }

  private expired(key: ExpiringKey): Promise<boolean> {
    const expiresAt = (key.expiresAt as Date).toISOString();
    return this.options.alerts.raise({
      tenantId: key.tenantId,
      type: 'key.expired',
      dedupKey: `key.expired:${key.id}:${expiresAt}`,
      data: { keyId: key.id, keyName: key.name, expiresAt },
    });
  }

  /** Runs `raise` for every non-revoked key matching `where`, in batches ordered by (expiresAt, id). */
  private async each(where: Prisma.ApiKeyWhereInput, raise: (key: ExpiringKey) => Promise<boolean>): Promise<number> {
    let raised = 0;
    let after: { expiresAt: Date; id: string } | null = null;
    for (;;) {
      const page: ExpiringKey[] = await this.options.db.apiKey.findMany({
        where: {
          AND: [
            where,
            { status: { not: 'revoked' } },
            ...(after ? [{ OR: [{ expiresAt: { gt: after.expiresAt } }, { expiresAt: after.expiresAt, id: { gt: after.id } }] }] : []),
          ],
        },
        orderBy: [{ expiresAt: 'asc' }, { id: 'asc' }],
        take: this.batchSize,
        select: { id: true, tenantId: true, name: true, expiresAt: true },
      });
      for (const key of page) if (await raise(key)) raised += 1;
      if (page.length < this.batchSize) return raised;
      const last = page[page.length - 1];
      after = { expiresAt: last.expiresAt as Date, id: last.id };
    }
  }
}
