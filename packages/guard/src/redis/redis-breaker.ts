/**
 * A circuit breaker in front of Redis. Every command already has a timeout (ioredis
 * `commandTimeout`), but a stalled Redis would still cost each request one timeout per step.
 * After a few consecutive failures the breaker opens: for `cooldownMs` every Redis-backed
 * operation fails at once, without touching Redis, and the failure policy answers instead
 * (in-memory insurance limiters, REDIS_FAILURE_MODE for quotas and budgets). Then a single probe,
 * sent by the breaker itself rather than by a request, decides: an answer closes the breaker,
 * a failure opens it for another cooldown. So no request ever waits for a Redis known to be down.
 */
import { ReplyError } from 'ioredis';

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Rejection of an operation refused because the breaker is open (Redis was not asked). */
export class CircuitOpenError extends Error {
  readonly code = 'circuit_open';

  constructor() {
    super('Redis circuit open: not asking Redis until it answers again');
    this.name = 'CircuitOpenError';
  }
}

export interface BreakerOptions {
  /** Consecutive failures (errors or timeouts) that open the breaker. */
  failureThreshold: number;
  /** How long the breaker stays open before probing. */
  cooldownMs: number;
  /** The probe sent after each cooldown (e.g. a PING); resolving means Redis answers again. */
  probe: () => Promise<unknown>;
  now?: () => number;
}

/** A short, secret-free word for why a Redis call failed (for /healthz and logs). */
export function describeFailure(error: unknown): string {
  if (error instanceof CircuitOpenError) return 'circuit open';
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  // ioredis gives its command timeout no code, only this fixed message.
  if (error instanceof Error && error.message === 'Command timed out') return 'no answer';
  return 'unreachable';
}

/**
 * True when `error` says Redis did not answer. An error reply (a script error, a wrong type) is
 * an answer: Redis is reachable and waiting for it again costs nothing, so it does not count.
 */
export function isUnanswered(error: unknown): boolean {
  return !(error instanceof ReplyError);
}

export class RedisBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private lastError: unknown = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly openListeners = new Set<(error: unknown) => void>();
  private readonly closeListeners = new Set<(openForMs: number) => void>();

  constructor(private readonly options: BreakerOptions) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new TypeError('RedisBreaker: failureThreshold must be a whole number of at least 1.');
    }
    if (!(options.cooldownMs > 0)) throw new TypeError('RedisBreaker: cooldownMs must be a positive number of milliseconds.');
    this.now = options.now ?? Date.now;
  }

  get state(): BreakerState {
    return this.current;
  }

  /** The state in a few words, for /healthz (e.g. "circuit open for 1.4 s (no answer)"). */
  describe(): string {
    if (this.current === 'closed') return 'circuit closed';
    const forS = ((this.now() - this.openedAt) / 1000).toFixed(1);
    return `circuit ${this.current} for ${forS} s (${describeFailure(this.lastError)})`;
  }

  /** Called when the breaker opens (once per outage: not again after a failed probe). */
  onOpen(listener: (error: unknown) => void): void {
    this.openListeners.add(listener);
  }

  /** Called when a probe closes the breaker, with how long it was open. */
  onClose(listener: (openForMs: number) => void): void {
    this.closeListeners.add(listener);
  }

  /** Runs a Redis operation, or rejects at once with CircuitOpenError while the breaker is not closed. */
  async run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.current !== 'closed') throw new CircuitOpenError();
    try {
      const result = await operation();
      this.failures = 0;
      return result;
    } catch (error) {
      if (isUnanswered(error)) this.recordFailure(error);
      else this.failures = 0;
      throw error;
    }
  }

  private recordFailure(error: unknown): void {
    // Operations sent before the breaker opened keep failing for a while: they change nothing.
    if (this.current !== 'closed') return;
    this.failures += 1;
    this.lastError = error;
    if (this.failures < this.options.failureThreshold) return;
    this.current = 'open';
    this.openedAt = this.now();
    for (const listener of this.openListeners) listener(error);
    this.scheduleProbe();
  }

  /** Stops probing (on shutdown). */
  close(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private scheduleProbe(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.probe(), this.options.cooldownMs);
    this.timer.unref();
  }

  private probe(): void {
    this.timer = null;
    this.current = 'half-open';
    // The probe should time out by itself (ioredis commandTimeout); this bound is a backstop.
    let backstop: NodeJS.Timeout | undefined;
    const unanswered = new Promise<never>((_resolve, reject) => {
      backstop = setTimeout(() => reject(new Error('probe unanswered')), this.options.cooldownMs);
      backstop.unref();
    });
    Promise.race([Promise.resolve().then(() => this.options.probe()), unanswered]).then(
      () => {
        clearTimeout(backstop);
        const openForMs = this.now() - this.openedAt;
        this.current = 'closed';
        this.failures = 0;
        this.lastError = null;
        for (const listener of this.closeListeners) listener(openForMs);
      },
      (error: unknown) => {
        clearTimeout(backstop);
        this.lastError = error;
        this.current = 'open';
        this.scheduleProbe();
      },
    );
  }
}
