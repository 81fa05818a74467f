/**
 * Keeps the request log within REQUEST_LOG_RETENTION_DAYS, and client addresses and unknown-key
 * attempts within 90 days, and finished webhook deliveries (delivered, or failed after a day of
 * retries) within 30 days: every 15 minutes (first a minute after start), each process deletes
 * what is older, the request log in short batches (oldest first) so a big backlog never holds the
 * database's write lock for long. Several processes pruning at once only find less to delete.
 * Rollups (outcomes, models, usage) are kept, like usage_daily. Each run also moves into the log
 * the staged rows a process of an earlier version left behind (moveStrayStagedRequestLog).
 */
import type { Db } from '../data/client-types';
import { deleteFinishedDeliveriesBefore } from '../data/repositories/alerts';
import { deleteClientAddressesBefore, deleteRequestLogBefore, deleteUnknownKeyAttemptsBefore } from '../data/repositories/request-log';
import { deleteUsageBatchesBefore } from '../data/repositories/usage';
import { deleteLapsedJournalLeases } from '../data/repositories/usage-journal';
import type { Logger } from '../logger';

const DAY_MS = 86_400_000;

/** Client addresses not seen, and unknown-key attempts older than this, are deleted. */
export const ADDRESS_RETENTION_DAYS = 90;
/** Webhook deliveries that ended longer ago than this are deleted (their alerts stay). */
export const DELIVERY_RETENTION_DAYS = 30;

/** What the pruner deletes from, and how much at a time. */
export interface RetentionOptions {
  db: Db;
  /** REQUEST_LOG_RETENTION_DAYS. */
  requestLogDays: number;
  logger?: Pick<Logger, 'info' | 'error'>;
  /** Default 15 minutes. */
  intervalMs?: number;
  /** Default 1 minute. */
  firstRunMs?: number;
  /** Request-log rows per delete statement (default 5,000). */
  batchSize?: number;
  /** Statements per run at most (default 200, i.e. 1,000,000 rows); the rest waits for the next run. */
  maxBatches?: number;
  /** Moves staged request-log rows whose journal row is gone; returns how many (the app passes moveStrayStagedRequestLog). */
  moveStrayStagedLog?: () => Promise<number>;
  now?: () => number;
}

/** Rows deleted by one run. */
export interface PruneResult {
  requestLog: number;
  clientAddresses: number;
  unknownKeyAttempts: number;
  webhookDeliveries: number;
  usageBatches: number;
  /** Usage journal leases lapsed a day before (their processes are gone). */
  journalLeases: number;
  /** Staged request-log rows moved into the log because their journal row was gone. */
  strayStagedLog: number;
}

/** Deletes request-log rows, client addresses, unknown-key attempts and finished deliveries past retention, on a timer. */
export class ActivityRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PruneResult> | null = null;

  constructor(private readonly options: RetentionOptions) {}

  /** Prunes a minute from now, then every interval (timers do not keep the process alive). */
  start(): void {
    if (this.timer) return;
    const run = () => {
      this.pruneOnce()
        .then((result) => {
          const total = result.requestLog + result.clientAddresses + result.unknownKeyAttempts + result.webhookDeliveries + result.strayStagedLog;
          if (total > 0) this.options.logger?.info(result, 'pruned request log, addresses and webhook deliveries');
        })
        .catch((error) => this.options.logger?.error({ err: error }, 'request-log pruning failed'));
    };
    this.timer = setTimeout(() => {
      run();
      this.timer = setInterval(run, this.options.intervalMs ?? 15 * 60_000);
      this.timer.unref();
    }, this.options.firstRunMs ?? 60_000);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** Deletes what is past retention now (one run at a time); returns how many rows of each. */
  pruneOnce(): Promise<PruneResult> {
    if (!this.running) {
      this.running = this.prune().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  private async prune(): Promise<PruneResult> {
    const { db } = this.options;
    const now = this.options.now?.() ?? Date.now();
    const batchSize = this.options.batchSize ?? 5000;
    const maxBatches = this.options.maxBatches ?? 200;
    const logCutoff = new Date(now - this.options.requestLogDays * DAY_MS);
    let requestLog = 0;
    for (let i = 0; i < maxBatches; i++) {
      const deleted = await deleteRequestLogBefore(db, logCutoff, batchSize);
      requestLog += deleted;
      if (deleted < batchSize) break;
      // Let requests and usage writes run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const addressCutoff = new Date(now - ADDRESS_RETENTION_DAYS * DAY_MS);
    const clientAddresses = await deleteClientAddressesBefore(db, addressCutoff);
    const unknownKeyAttempts = await deleteUnknownKeyAttemptsBefore(db, addressCutoff);
    const webhookDeliveries = await deleteFinishedDeliveriesBefore(db, new Date(now - DELIVERY_RETENTION_DAYS * DAY_MS));
    // Usage batch ids only need to outlive a retry (seconds to minutes): a day is ample.
    const usageBatches = await deleteUsageBatchesBefore(db, new Date(now - DAY_MS));
    const journalLeases = await deleteLapsedJournalLeases(db, new Date(now - DAY_MS));
    const strayStagedLog = (await this.options.moveStrayStagedLog?.()) ?? 0;
    return { requestLog, clientAddresses, unknownKeyAttempts, webhookDeliveries, usageBatches, journalLeases, strayStagedLog };
  }
}
