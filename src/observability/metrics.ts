/**
 * Keyward's Prometheus metrics, served at GET /metrics. A registry of its own (never prom-client's
 * global one), names prefixed `keyward_`, and labels with few values only: route patterns,
 * methods, status codes, outcome codes, dependency names. Never a key id, an address or a path.
 * Counters are fed as things happen; states (buffered usage, reservations, dependencies, the Redis
 * breaker, the key cache) are read when Prometheus scrapes.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { type KeyCacheStats, REQUEST_OUTCOMES, type RequestOutcome } from '@keyward/guard';
import type { BreakerState } from '@keyward/guard/redis';
import { type DependencyState, type HealthCheck, runHealthCheck } from '../routes/health';
import { ReservationsInFlight } from './reservations';

/** Which guard saw a request: the /api guards (models, chat) or the key-management guard. */
export type GuardName = 'api' | 'management';
const GUARDS: readonly GuardName[] = ['api', 'management'];

/** What the scrape-time metrics read. */
export interface MetricSources {
  usage: { pendingRequests(): number; foldingRequests?(): number };
  keyCache: { stats(): KeyCacheStats };
  /** The /healthz checks, run at each scrape with the same timeout. */
  health: readonly HealthCheck[];
  /** The Redis circuit breaker, when Redis is configured. */
  breaker: { readonly state: BreakerState } | null;
}

/** Methods kept as they are; anything else is counted as `other`. */
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const DEPENDENCY_STATES = ['up', 'degraded', 'down'] as const;
const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half-open'];

/** Whole requests: from a cached key's fraction of a millisecond to a long streamed completion. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
/** The guard's own checks: about 0.1 ms for a cached key in memory, up to two Redis timeouts. */
const GUARD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const WRITE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The registry and every metric of one process; `watch()` gives it what it reads at scrape time. */
export class KeywardMetrics {
  readonly registry = new Registry();
  /** Budget reservations in flight, counted around the guards' ledger (see api.ts). */
  readonly reservations = new ReservationsInFlight();
  private sources: MetricSources | null = null;
  /** When the oldest admitted request not yet written was recorded (null: none waiting). */
  private oldestUnwrittenAt: number | null = null;
  /** The health checks of the scrape in progress. */
  private checking: Promise<{ name: string; state: DependencyState & { latencyMs: number } }[]> | null = null;

  private readonly requests: Counter<'route' | 'method' | 'status'>;
  private readonly requestSeconds: Histogram<'route' | 'method'>;
  private readonly guardSeconds: Histogram<'guard' | 'result'>;
  private readonly outcomes: Counter<'guard' | 'outcome'>;
  private readonly unknownKeys: Counter<'guard' | 'blocked'>;
  private readonly usageWriteSeconds: Histogram;
  private readonly usageWritten: Counter;
  private readonly usageWriteFailures: Counter;
  private readonly usageSetAside: Counter;
  private readonly webhookAttempts: Counter<'result'>;

  constructor(private readonly now: () => number = Date.now) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'keyward_' });

    this.requests = new Counter({
      name: 'keyward_http_requests_total',
      help: 'HTTP requests answered, by route pattern, method and status (0: the client left before any answer).',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestSeconds = new Histogram({
      name: 'keyward_http_request_duration_seconds',
      help: 'Time from a request reaching Keyward to its response ending, by route pattern and method.',
      labelNames: ['route', 'method'],
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.guardSeconds = new Histogram({
      name: 'keyward_guard_duration_seconds',
      help: "The API-key guard's own time: from the request reaching it to the handler starting (admitted) or the refusal (refused).",
      labelNames: ['guard', 'result'],
      buckets: GUARD_BUCKETS,
      registers,
    });
    this.outcomes = new Counter({
      name: 'keyward_guard_outcomes_total',
      help: 'Requests of identified keys by outcome: ok, failed, client_closed, or the refusal code.',
      labelNames: ['guard', 'outcome'],
      registers,
    });
    this.unknownKeys = new Counter({
      name: 'keyward_guard_unknown_key_attempts_total',
      help: 'Requests whose key names no key (malformed, bad checksum, unknown id), and requests from addresses blocked for guessing (blocked="true").',
      labelNames: ['guard', 'blocked'],
      registers,
    });
    // Known label values start at 0, so rate() sees the first one of each.
    for (const guard of GUARDS) {
      for (const outcome of REQUEST_OUTCOMES) this.outcomes.inc({ guard, outcome }, 0);
      for (const blocked of ['false', 'true']) this.unknownKeys.inc({ guard, blocked }, 0);
    }

    const metrics = this;
    new Counter({
      name: 'keyward_key_cache_lookups_total',
      help: 'Key lookups the in-process key cache answered (hit, known-unknown ids included) or passed to the database (miss).',
      labelNames: ['result'],
      registers,
      collect() {
        const stats = metrics.sources?.keyCache.stats();
        this.reset();
        this.inc({ result: 'hit' }, stats?.hits ?? 0);
        this.inc({ result: 'miss' }, stats?.misses ?? 0);
      },
    });
    new Gauge({
      name: 'keyward_key_cache_entries',
      help: 'Keys (and known-unknown ids) in the in-process key cache.',
      registers,
      collect() {
        this.set(metrics.sources?.keyCache.stats().size ?? 0);
      },
    });

    this.usageWriteSeconds = new Histogram({
      name: 'keyward_usage_write_duration_seconds',
      help: 'How long each batch of buffered usage took to write (what a crash can lose grows with it).',
      buckets: WRITE_BUCKETS,
      registers,
    });
    this.usageWritten = new Counter({
      name: 'keyward_usage_written_requests_total',
      help: 'Admitted requests whose usage was written to the database.',
      registers,
    });
    this.usageWriteFailures = new Counter({
      name: 'keyward_usage_write_failures_total',
      help: 'Usage writes that failed (the batch is kept and written by a later attempt).',
      registers,
    });
    this.usageSetAside = new Counter({
      name: 'keyward_usage_set_aside_requests_total',
      help: 'Admitted requests whose usage the database refused every time it was sent (logged, not written).',
      registers,
    });
    this.webhookAttempts = new Counter({
      name: 'keyward_webhook_attempts_total',
      help: 'Webhook delivery attempts by result: delivered, retry (to be tried again), failed (given up after 24 h).',
      labelNames: ['result'],
      registers,
    });
    new Gauge({
      name: 'keyward_usage_pending_requests',
      help: 'Admitted requests whose usage is buffered and not written yet.',
      registers,
      collect() {
        this.set(metrics.sources?.usage.pendingRequests() ?? 0);
      },
    });
    new Gauge({
      name: 'keyward_usage_folding_requests',
      help: 'Admitted requests whose usage is journaled (durable) and not yet folded into counters and rollups.',
      registers,
      collect() {
        this.set(metrics.sources?.usage.foldingRequests?.() ?? 0);
      },
    });
    new Gauge({
      name: 'keyward_usage_lag_seconds',
      help: 'Age of the oldest buffered usage not written yet (0 when nothing waits): what a crash now would lose.',
      registers,
      collect() {
        this.set(metrics.usageLagSeconds());
      },
    });

    new Gauge({
      name: 'keyward_budget_reservations_in_flight',
      help: 'Budget reservations held by responses in progress (settled when each response closes).',
      registers,
      collect() {
        this.set(metrics.reservations.count);
      },
    });
    new Gauge({
      name: 'keyward_budget_reserved_cents',
      help: 'Budget those reservations hold, in cents.',
      registers,
      collect() {
        this.set(metrics.reservations.microCents / 1_000_000);
      },
    });

    // Checked at each scrape, like /healthz (each check within 1.5 s). prom-client collects the
    // metrics of a scrape concurrently: both gauges wait for the same run of the checks.
    new Gauge({
      name: 'keyward_dependency_state',
      help: 'State of each dependency (database, redis) as /healthz reports it: 1 for the current state.',
      labelNames: ['dependency', 'state'],
      registers,
      async collect() {
        for (const { name, state } of await metrics.checkDependencies()) {
          for (const value of DEPENDENCY_STATES) this.set({ dependency: name, state: value }, state.status === value ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'keyward_dependency_check_duration_seconds',
      help: 'How long the health check of each dependency took at this scrape.',
      labelNames: ['dependency'],
      registers,
      async collect() {
        for (const { name, state } of await metrics.checkDependencies()) this.set({ dependency: name }, state.latencyMs / 1000);
      },
    });
    new Gauge({
      name: 'keyward_redis_breaker_state',
      help: 'The Redis circuit breaker: 1 for its current state (closed: Redis is asked; open: it is not; half-open: one probe is out). Absent without Redis.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        const breaker = metrics.sources?.breaker;
        if (breaker) for (const state of BREAKER_STATES) this.set({ state }, breaker.state === state ? 1 : 0);
      },
    });
  }

  /** What the scrape-time metrics read (set once the services exist). */
  watch(sources: MetricSources): void {
    this.sources = sources;
  }

  /** A response ended (or its client left). */
  requestEnded(route: string, method: string, status: number, seconds: number): void {
    const label = METHODS.has(method) ? method : 'other';
    this.requests.inc({ route, method: label, status: String(status) });
    this.requestSeconds.observe({ route, method: label }, seconds);
  }

  /** The guard let a request through or refused it, after `seconds` of checks. */
  guardTimed(guard: GuardName, admitted: boolean, seconds: number): void {
    this.guardSeconds.observe({ guard, result: admitted ? 'admitted' : 'refused' }, seconds);
  }

  outcome(guard: GuardName, outcome: RequestOutcome): void {
    this.outcomes.inc({ guard, outcome });
  }

  unknownKey(guard: GuardName, blocked: boolean): void {
    this.unknownKeys.inc({ guard, blocked: blocked ? 'true' : 'false' });
  }

  /** An admitted request was handed to the usage buffer. */
  usageRecorded(): void {
    this.oldestUnwrittenAt ??= this.now();
  }

  /** The usage buffer wrote a batch (UsageBuffer's onWritten). */
  usageWriteSucceeded(written: { requests: number; ms: number }): void {
    this.usageWriteSeconds.observe(written.ms / 1000);
    this.usageWritten.inc(written.requests);
    // The write took its batch when it started: what waits now was recorded after that.
    const pending = this.sources?.usage.pendingRequests() ?? 0;
    this.oldestUnwrittenAt = pending > 0 ? this.now() - written.ms : null;
  }

  /** A usage write failed (UsageBuffer's onError); the batch waits for the next one. */
  usageWriteFailed(): void {
    this.usageWriteFailures.inc();
  }

  /** One key's usage was set aside, refused by the database every time (UsageBuffer's onSetAside). */
  usageSetAsideRequests(requests: number): void {
    this.usageSetAside.inc(requests);
  }

  /** A webhook delivery attempt ended (WebhookDeliverer's onResult). */
  webhookAttempted(result: 'delivered' | 'retry' | 'failed'): void {
    this.webhookAttempts.inc({ result });
  }

  private checkDependencies() {
    const checks = this.sources?.health ?? [];
    this.checking ??= Promise.all(checks.map(async (check) => ({ name: check.name, state: await runHealthCheck(check) }))).finally(() => {
      this.checking = null;
    });
    return this.checking;
  }

  private usageLagSeconds(): number {
    const pending = this.sources?.usage.pendingRequests() ?? 0;
    if (pending === 0 || this.oldestUnwrittenAt === null) return 0;
    return Math.max(0, this.now() - this.oldestUnwrittenAt) / 1000;
  }
}
