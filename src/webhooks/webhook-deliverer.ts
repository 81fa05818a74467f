/**
 * The delivery worker. Every instance runs one; they share the work through the database:
 *
 *   poll due rows → claim each (compare-and-set of its due time to a lease) → sign and POST →
 *   record the result (2xx delivered; else the next attempt per the retry schedule, or failed)
 *
 * Exactly one instance makes each attempt. A process that stops mid-attempt lets it finish (each
 * POST is bounded by its timeout); one that dies leaves the row claimed until its lease ends, and
 * then any instance tries again. The `webhook-id` header is the alert's id, so a receiver can
 * drop the rare duplicate (a crash after the receiver answered but before the result was saved).
 */
import type { Database } from '../data/database';
import { claimDelivery, findDueDeliveries, finishAttempt, loadClaimed } from '../data/repositories/webhooks';
import type { Logger } from '../logger';
import { alertPayload, type AlertType } from '../alerts/alert-types';
import { DEFAULT_GIVE_UP_AFTER_MS, DEFAULT_RETRY_DELAYS_MS, nextAttemptAt } from './retry-schedule';
import { signWebhook } from './signature';
import { type PostResult, postWebhook } from './webhook-http';
import type { WebhookSecretBox } from './webhook-secret';

/** What the worker needs; the delays, timeout and clock are injectable for tests. */
export interface DelivererOptions {
  database: Database;
  secrets: WebhookSecretBox;
  logger: Logger;
  /** WEBHOOK_ALLOW_PRIVATE: deliver to private addresses too. */
  allowPrivate: boolean;
  /** WEBHOOK_POLL_MS (default 1 s). */
  pollMs?: number;
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts in flight at once in this process (default 4). */
  concurrency?: number;
  /** Retry delays (tests use short ones). */
  retryDelaysMs?: readonly number[];
  giveUpAfterMs?: number;
  clock?: () => Date;
  /** Told each attempt's result (metrics). */
  onResult?: (result: 'delivered' | 'retry' | 'failed') => void;
}

/** Extra time a claim holds past the attempt's timeout, for the result to be written. */
const LEASE_MARGIN_MS = 30_000;

/** Polls and delivers due webhook deliveries until stopped. */
export class WebhookDeliverer {
  private readonly opts: Required<Omit<DelivererOptions, 'onResult' | 'clock'>> & Pick<DelivererOptions, 'onResult'>;
  private readonly now: () => Date;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private stopped = true;
  /** Aborts the POSTs in flight (stop() after its grace period). */
  private readonly abort = new AbortController();

  constructor(options: DelivererOptions) {
    this.opts = {
      pollMs: 1000,
      timeoutMs: 10_000,
      concurrency: 4,
      retryDelaysMs: DEFAULT_RETRY_DELAYS_MS,
      giveUpAfterMs: DEFAULT_GIVE_UP_AFTER_MS,
      ...options,
    };
    if (this.opts.concurrency < 1 || this.opts.retryDelaysMs.length === 0) throw new TypeError('WebhookDeliverer: concurrency >= 1 and at least one retry delay');
    this.now = options.clock ?? (() => new Date());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Polls at once (an alert was just queued by this process). */
  wake(): void {
    if (this.stopped || this.polling) return;
    this.schedule(0);
  }

  /**
   * Stops polling; attempts in flight may finish within `graceMs`, then their POSTs are aborted
   * and the rows released (due again at once, the attempt not counted) for any instance.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.polling;
    let grace: NodeJS.Timeout | undefined;
    const finished = Promise.allSettled([...this.inFlight]);
    await Promise.race([finished, new Promise((resolve) => (grace = setTimeout(resolve, graceMs)))]);
    clearTimeout(grace);
    this.abort.abort();
    await finished;
  }

  /** One poll: claims due deliveries up to the free concurrency and starts those attempts. */
  async pollOnce(): Promise<number> {
    const free = this.opts.concurrency - this.inFlight.size;
    if (free <= 0) return 0;
    const now = this.now();
    const due = await findDueDeliveries(this.opts.database.prisma, now, free);
    let started = 0;
    for (const row of due) {
      const leaseUntil = new Date(now.getTime() + this.opts.timeoutMs + LEASE_MARGIN_MS);
      if (!(await claimDelivery(this.opts.database.prisma, row.id, row.nextAttemptAt, leaseUntil))) continue;
      const attempt = this.attempt(row.id, leaseUntil)
        .catch((error) => this.opts.logger.error({ err: error, deliveryId: row.id }, 'webhook delivery attempt failed to record'))
        .finally(() => this.inFlight.delete(attempt));
      this.inFlight.add(attempt);
      started += 1;
    }
    return started;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.polling = this.pollOnce()
        .then(() => undefined)
        .catch((error) => this.opts.logger.warn({ err: error }, 'polling webhook deliveries failed; retrying'))
        .finally(() => {
          this.polling = null;
          if (!this.stopped) this.schedule(this.opts.pollMs);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async attempt(id: string, leaseUntil: Date): Promise<void> {
    const db = this.opts.database.prisma;
    const row = await loadClaimed(db, id);
    if (!row) return; // deleted with its webhook meanwhile
    const body = alertPayload({ type: row.alert.type as AlertType, data: row.alert.data as Record<string, unknown>, createdAt: row.alert.createdAt, tenantId: row.alert.tenantId });
    const startedAt = this.now();
    let result: PostResult;
    try {
      const headers = signWebhook(this.opts.secrets.open(row.webhook.secretSealed), row.alert.id, startedAt, body);
      result = await postWebhook(row.webhook.url, body, headers, { timeoutMs: this.opts.timeoutMs, allowPrivate: this.opts.allowPrivate, signal: this.abort.signal });
    } catch (error) {
      this.opts.logger.error({ err: error, webhookId: row.webhookId }, 'a webhook delivery could not be signed');
      result = { error: 'could not be signed' };
    }
    const finishedAt = this.now();
    if ('aborted' in result && result.aborted) {
      // Stopped mid-attempt: released, not counted. The receiver may have seen it; the same
      // webhook-id on the next attempt lets it drop the duplicate.
      await finishAttempt(db, id, leaseUntil, { ...pick(row), nextAttemptAt: finishedAt });
      return;
    }
    const attempts = row.attempts + 1;
    const ok = 'status' in result && result.status >= 200 && result.status < 300;
    const next = ok ? null : nextAttemptAt(attempts, row.createdAt, finishedAt, this.opts.retryDelaysMs, this.opts.giveUpAfterMs);
    const status = ok ? 'delivered' : next ? 'pending' : 'failed';
    await finishAttempt(db, id, leaseUntil, {
      status,
      attempts,
      nextAttemptAt: next ?? finishedAt,
      lastAttemptAt: startedAt,
      lastStatusCode: 'status' in result ? result.status : null,
      lastError: ok ? null : 'status' in result ? `answered HTTP ${result.status}` : result.error.slice(0, 200),
    });
    this.opts.onResult?.(status === 'pending' ? 'retry' : status);
  }
}

/** A row's result fields as they are (for a released attempt). */
function pick(row: { status: string; attempts: number; lastAttemptAt: Date | null; lastStatusCode: number | null; lastError: string | null }) {
  return { status: row.status as 'pending', attempts: row.attempts, lastAttemptAt: row.lastAttemptAt, lastStatusCode: row.lastStatusCode, lastError: row.lastError };
}
