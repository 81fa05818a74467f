/**
 * Builds the app's services once, from configuration: the database, the key service, the people
 * directory, and what the /api guard shares (key cache, limits, usage buffer). server.ts, the CLI
 * and tests all start from here.
 */
import { AlertService } from './alerts/alert-service';
import { ExpirySweep } from './alerts/expiry-sweep';
import { KeyAlerts } from './alerts/key-alerts';
import { PasswordHasher } from './auth/password';
import { DEFAULT_USAGE_FOLD, type ResolvedConfig } from './config';
import type { CatalogModel } from './config/model-catalog';
import { createDashboardServices, type DashboardServices } from './dashboard/dashboard-services';
import { type Database, openDatabase } from './data/database';
import { databaseRefusalReason, databaseUnavailableReason, isUnexpectedChanges } from './data/errors';
import { createKeyLookup } from './data/repositories/key-lookup';
import { deleteKeyChangesBefore, latestKeyChangeId, listKeyChangesAfter } from './data/repositories/key-changes';
import { isBatchAlreadyWritten, writeUsageBatch } from './data/repositories/usage';
import { appendToJournal, consumeJournal, journalRows, moveStrayStagedRequestLog, orphanedJournalRows, releaseJournalLease, renewJournalLease } from './data/repositories/usage-journal';
import { KeyChangeFeed } from './keys/key-change-feed';
import { KeyChangeInbox } from './keys/key-change-inbox';
import { type CachedKeyStore, cachedKeyStore, createKeyGuard, isKeyId, type KeyEventBus, KeyHasher, type LimitBackend } from '@keyward/guard';
import { KeyService } from './keys/key-service';
import { ThrottledLog } from './lib/throttled-log';
import { createLogger, type Logger } from './logger';
import { createMetrics } from './observability/load-metrics';
import type { KeywardMetrics } from './observability/metrics';
import type { HealthCheck } from './routes/health';
import { createSharedState } from './shared-state';
import { LevelDirectory } from './governance/level-directory';
import { LevelLimitsService } from './governance/level-limits-service';
import { ThresholdMonitor } from './governance/threshold-monitor';
import { teeRecorder } from './usage/tee-recorder';
import { KeyVerification } from './verify/key-verification';
import { listLevelLimitsOfTenant } from './data/repositories/level-limits';
import { TenantService } from './tenants/tenant-service';
import { ActivityRetention } from './usage/retention';
import { UsageWindowRoller } from './usage/usage-window-roller';
import { UsageJournal } from './usage/usage-journal';
import { usageBatchSummary } from './usage/usage-batch';
import { UserService } from './users/user-service';
import { type DelivererOptions, WebhookDeliverer } from './webhooks/webhook-deliverer';
import { WebhookSecretBox } from './webhooks/webhook-secret';
import { WebhookService } from './webhooks/webhook-service';

export interface AppContext {
  config: ResolvedConfig;
  logger: Logger;
  database: Database;
  keyEvents: KeyEventBus;
  hasher: KeyHasher;
  keys: KeyService;
  tenants: TenantService;
  users: UserService;
  passwords: PasswordHasher;
  /** Tenant and owner limits (the levels above keys). */
  levels: LevelLimitsService;
  /** What the /api guard shares between routes. */
  keyStore: CachedKeyStore;
  /** The guard's cached view of the levels above each key. */
  levelDirectory: LevelDirectory;
  /** Raises budget and quota threshold alerts for keys the guard saw used. */
  thresholds: ThresholdMonitor;
  /** POST /api/v1/keys/verify: the guard's checks for other services. */
  verification: KeyVerification;
  limits: LimitBackend;
  usage: UsageJournal;
  models: ReadonlyMap<string, CatalogModel>;
  /** Sessions, sign-in and account actions of the dashboard. */
  dashboard: DashboardServices;
  /** Alerts (raised once per dedupKey) and the tenant webhooks they are delivered to. */
  alerts: AlertService;
  webhooks: WebhookService;
  /** The delivery worker and the key-expiry sweep (started unless overridden; stopped by close()). */
  webhookDeliverer: WebhookDeliverer;
  expirySweep: ExpirySweep;
  /** Keeps the per-key window of the last 30 days on the current day (started with the alert workers; stopped by close()). */
  usageWindow: UsageWindowRoller;
  /** What GET /healthz reports: the database (critical) and shared stores (Redis). */
  health: HealthCheck[];
  /** Prometheus metrics for GET /metrics: null unless METRICS_TOKEN is set. */
  metrics: KeywardMetrics | null;
  /**
   * Resolves once shared stores (Redis) answer, or after a short wait, and the key-change feed
   * knows where to start (before the first key is cached).
   */
  ready(): Promise<void>;
  /** Writes buffered usage, settles ledgers, and releases every resource. */
  close(): Promise<void>;
}

export interface ContextOverrides {
  logger?: Logger;
  passwords?: PasswordHasher;
  clock?: () => Date;
  limits?: LimitBackend;
  /**
   * false: do not poll key changes made by other processes. For processes that only make changes
   * and cache no keys (the CLI).
   */
  keyChangeFeed?: boolean;
  /**
   * false: neither deliver webhooks nor sweep for expiring keys (the CLI: alerts it raises are
   * delivered by the server). Alerts are still raised.
   */
  alertWorkers?: boolean;
  /** Delivery worker settings (tests use short retry delays). */
  webhookDelivery?: Pick<DelivererOptions, 'retryDelaysMs' | 'giveUpAfterMs' | 'timeoutMs' | 'concurrency'>;
  /** SQLite: count the usage writer's CPU time per statement (database.writerStatementCpu(); `npm run bench -- --statements`). */
  statementCpu?: boolean;
}

/** How long key_changes rows are kept: pollers only need the recent tail. */
const KEY_CHANGE_RETENTION_MS = 60 * 60_000;

/** Wires the services for a configuration. Migrations must have been applied. */
export function createContext(config: ResolvedConfig, overrides: ContextOverrides = {}): AppContext {
  const logger = overrides.logger ?? createLogger(config.logLevel, { format: config.logFormat });
  const database = openDatabase(config.database, { timeouts: config.databaseTimeouts, logger, statementCpu: overrides.statementCpu });
  const inbox = new KeyChangeInbox();
  const shared = createSharedState(config, { database, logger, inbox });
  const keyEvents = shared.keyEvents;
  const passwords = overrides.passwords ?? new PasswordHasher();
  const hasher = new KeyHasher({ 1: config.keyHashSecret });
  const keys = new KeyService({ database, hasher, keyPrefix: config.keyPrefix, events: keyEvents, origin: inbox.origin, clock: overrides.clock });

  const limits = overrides.limits ?? shared.limits;
  const usageFailures = new ThrottledLog(logger);
  const metrics = config.metrics ? createMetrics() : null;
  const webhookSecrets = new WebhookSecretBox(config.keyHashSecret);
  const webhookDeliverer = new WebhookDeliverer({
    database,
    secrets: webhookSecrets,
    logger,
    allowPrivate: config.webhooks.allowPrivate,
    pollMs: config.webhooks.pollMs,
    clock: overrides.clock,
    onResult: (result) => metrics?.webhookAttempted(result),
    ...overrides.webhookDelivery,
  });
  const alertWorkers = overrides.alertWorkers !== false;
  const alerts = new AlertService({ database, clock: overrides.clock, onQueued: () => webhookDeliverer.wake() });
  const keyAlerts = new KeyAlerts({ db: database.prisma, alerts, logger });
  const expirySweep = new ExpirySweep({ db: database.prisma, alerts, logger, clock: overrides.clock });
  const webhooks = new WebhookService({ database, secrets: webhookSecrets, alerts, allowPrivate: config.webhooks.allowPrivate, clock: overrides.clock });
  const droppedTotals = { requestLogRows: 0, clientAddressRequests: 0 };
  const fold = config.api.usageFold ?? DEFAULT_USAGE_FOLD;
  const usage = new UsageJournal(
    {
      write: async (batch) => {
        const written = await writeUsageBatch(database, batch);
        keyAlerts.onNewAddresses(written.newClientAddresses);
      },
    },
    {
      append: (entry) => appendToJournal(database, entry),
      rows: (ids) => journalRows(database, ids),
      orphans: (owner, now, limit) => orphanedJournalRows(database, owner, now, limit),
      consume: (ids) => consumeJournal(database, ids),
      renewLease: (owner, until) => renewJournalLease(database, owner, until),
      releaseLease: (owner) => releaseJournalLease(database.prisma, owner),
    },
    {
      foldIntervalMs: fold.intervalMs,
      minOwners: fold.minKeys,
      partOwners: fold.partKeys,
      alreadyWritten: isBatchAlreadyWritten,
      unexpectedChanges: isUnexpectedChanges,
      onFolded: (folded) => logger.debug({ ...folded, ms: Math.round(folded.ms) }, 'usage folded'),
      // This process was paused past its journal lease (a stopped VM, SIGSTOP) and another folded its rows.
      onTakenOver: (rows) => logger.warn(rows, 'usage journal rows were folded by another process meanwhile; folding the rest'),
      intervalMs: config.api.usageFlushIntervalMs,
      onError: (error) => {
        metrics?.usageWriteFailed();
        // Refused for what it holds: the code only (a driver's message can quote the batch's values).
        const refusal = databaseRefusalReason(error);
        if (refusal) {
          usageFailures.warn(`usage-refused:${refusal}`, undefined, 'the database refused a usage write for what it holds; writing the rest apart', { reason: refusal });
          return;
        }
        // Every interval while the database is away: one line per kind and interval, with a count.
        const reason = databaseUnavailableReason(error);
        const message = 'writing usage failed; kept for the next attempt';
        usageFailures.error(`usage-write:${reason ?? 'other'}`, reason ? undefined : error, message, { reason });
      },
      // What a crash can lose grows with a write's duration (README, Crash safety): visible at debug.
      onWritten: (written) => {
        metrics?.usageWriteSucceeded(written);
        const { requests, refused, ms } = written;
        logger.debug({ requests, refused, ms: Math.round(ms) }, 'usage written');
      },
      // A batch the database refuses for its data is split until the refused key's part is found;
      // that part, refused at three writes in a row, is logged with everything it held and dropped.
      refusedFor: databaseRefusalReason,
      onSetAside: (part, reason) => {
        const summary = usageBatchSummary(part);
        metrics?.usageSetAsideRequests(summary.requests);
        logger.error({ reason, ...summary }, 'usage the database refuses every time was set aside, not written');
      },
      // A burst past the request log's memory bound: counts stay exact, some log rows are missing.
      // At most one line per interval, with the totals since start (folded lines lose nothing).
      onDropped: (dropped) => {
        droppedTotals.requestLogRows += dropped.requestLogRows;
        droppedTotals.clientAddressRequests += dropped.clientAddressRequests;
        usageFailures.warn('usage-dropped', undefined, 'request-log rows over the memory bound were not logged', { ...dropped, sinceStart: { ...droppedTotals } });
      },
    },
  );
  usage.start();
  const retention = new ActivityRetention({
    db: database.prisma,
    requestLogDays: config.requestLog.retentionDays,
    logger,
    moveStrayStagedLog: () => moveStrayStagedRequestLog(database),
  });
  retention.start();
  // Usage by key over the last 30 days reads a window kept per key; it moves each UTC day (a
  // background worker: not in the CLI's short-lived processes).
  const windowRoller = new UsageWindowRoller({ database, logger, clock: overrides.clock });
  if (alertWorkers) windowRoller.start();
  // Cache misses read through the raw driver, the misses of one tick in one statement.
  const keyLookup = createKeyLookup(config.database, config.databaseTimeouts);
  const keyStore = cachedKeyStore(
    {
      findKey: async (id) => (isKeyId(id) ? ((await keyLookup.findKeys([id]))[0] ?? null) : null),
      findKeys: (ids) => keyLookup.findKeys(ids.filter(isKeyId)),
    },
    { events: keyEvents, ttlMs: config.api.keyCacheTtlMs, max: config.api.keyCacheMaxKeys },
  );
  // Other processes' changes (another instance, the CLI) within KEY_CHANGES_POLL_MS, with or
  // without Redis; while polls fail, cached keys live out their TTL.
  const feed =
    overrides.keyChangeFeed === false
      ? null
      : new KeyChangeFeed({
          source: {
            latestId: () => latestKeyChangeId(database.prisma),
            after: (id, limit) => listKeyChangesAfter(database.prisma, id, limit),
            pruneBefore: (cutoff) => deleteKeyChangesBefore(database.prisma, cutoff),
          },
          inbox,
          pollMs: config.keyChanges.pollMs,
          // Longer than any cache TTL: a process that missed pruned rows has nothing cached from before them.
          retentionMs: Math.max(KEY_CHANGE_RETENTION_MS, 2 * config.api.keyCacheTtlMs),
          logger,
        });
  feed?.start();
  // Every process raises key.revoked for revocations it hears; the alert's dedupKey keeps one.
  keyEvents.subscribe((change) => keyAlerts.onKeyChange(change));
  if (alertWorkers) {
    webhookDeliverer.start();
    expirySweep.start();
  }
  keyEvents.subscribe((change) => {
    if (change.kind !== 'usage_reset') return;
    usage.dropCounters(change.keyId);
    // Counters shared in Redis are reset by the process that made the change; counters kept in
    // this process (no Redis) by each process.
    if (!change.remote || !config.redis) {
      limits.ledger.reset(change.keyId).catch((error) => logger.error({ err: error }, 'resetting limits failed'));
    }
  });

  const users = new UserService(database, passwords);
  const levelDirectory = new LevelDirectory({
    load: (tenantId) => listLevelLimitsOfTenant(database.prisma, tenantId),
    events: keyEvents,
    ttlMs: config.api.keyCacheTtlMs,
  });
  const levels = new LevelLimitsService({ database, limits, events: keyEvents, origin: inbox.origin, clock: overrides.clock });
  const thresholds = new ThresholdMonitor({
    limits,
    keys: keyStore,
    levels: levelDirectory,
    alerts,
    logger,
    now: overrides.clock ? () => (overrides.clock as () => Date)().getTime() : undefined,
  });
  if (alertWorkers) thresholds.start();
  // Verifications run the /api guard's checks on described requests, recorded like /api usage.
  const verifyFailures = new ThrottledLog(logger);
  const verification = new KeyVerification({
    guard: createKeyGuard({
      keys: keyStore,
      hasher,
      limits,
      usage: teeRecorder(usage, thresholds.recorder()),
      levels: levelDirectory,
      onError: (error) => verifyFailures.error('verify-store', error, 'key verification: a store failed'),
    }),
    limits,
    keys: keyStore,
    secret: config.keyHashSecret,
  });

  const context: AppContext = {
    config,
    logger,
    database,
    keyEvents,
    hasher,
    keys,
    tenants: new TenantService(database),
    users,
    passwords,
    levels,
    keyStore,
    levelDirectory,
    thresholds,
    verification,
    limits,
    usage,
    models: new Map(config.llm.models.map((m) => [m.id, m])),
    dashboard: createDashboardServices({ config, database, users, limits, clock: overrides.clock }),
    alerts,
    webhooks,
    webhookDeliverer,
    expirySweep,
    usageWindow: windowRoller,
    health: [
      {
        name: 'database',
        critical: true,
        check: async () => {
          try {
            await database.ping();
            return { status: 'up' };
          } catch (error) {
            return { status: 'down', detail: databaseUnavailableReason(error) ?? 'unreachable' };
          }
        },
      },
      ...shared.health,
    ],
    metrics,
    ready: async () => {
      await Promise.all([shared.ready(), feed?.ready()]);
    },
    close: async () => {
      await feed?.stop();
      await retention.stop();
      await windowRoller.stop();
      keyStore.close();
      levelDirectory.close();
      await expirySweep.stop();
      try {
        // Unsettled verifications of this process are charged in full before usage is written.
        await verification.close().catch((error) => logger.error({ err: error }, 'charging unsettled verifications failed'));
        await usage.stop();
        // The last requests' thresholds, while the ledger and the database are still open.
        await thresholds.stop();
        // After the last usage write (new addresses) and before the database closes.
        await keyAlerts.drain();
        await webhookDeliverer.stop();
        await limits.close();
      } finally {
        await shared.close();
        await keyLookup.close();
        await database.close();
      }
    },
  };
  metrics?.watch({ usage, keyCache: keyStore, health: context.health, breaker: shared.breaker });
  return context;
}
