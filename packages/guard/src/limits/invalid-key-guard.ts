import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';

/** Most addresses remembered as suspects (about 100 bytes each). */
const DEFAULT_MAX_SUSPECTS = 100_000;

/**
 * Counts invalid-key attempts per client IP. An IP over the threshold is refused (429) for the
 * block period, whatever key it presents, so guessing gains nothing from a valid/invalid oracle.
 */
export class InvalidKeyGuard {
  /**
   * IPs with a recent invalid attempt, and until when they matter. Only these are looked up in the
   * limiter, so clean traffic never pays for the check (with a shared Redis limiter, an IP guessing
   * elsewhere gets one attempt here before the shared count blocks it). The map is bounded; when it
   * is full, no address is forgotten: every address is treated as a suspect (looked up in the
   * limiter) until the remembered ones expire, so flooding addresses cannot lift anyone's block.
   */
  private readonly suspects = new Map<string, number>();
  private readonly memoryMs: number;
  private overflowUntil = 0;
  private lastPrune = 0;

  constructor(
    private readonly limiter: RateLimiterAbstract,
    private readonly now: () => number = Date.now,
    private readonly maxSuspects = DEFAULT_MAX_SUSPECTS,
  ) {
    this.memoryMs = (limiter.duration + limiter.blockDuration) * 1000;
  }

  /** False when the IP has no recent invalid attempt here: then it cannot be blocked. */
  mayBeBlocked(ip: string): boolean {
    const now = this.now();
    const until = this.suspects.get(ip);
    if (until !== undefined) {
      if (until > now) return true;
      this.suspects.delete(ip);
    }
    return this.overflowUntil > now;
  }

  /** Milliseconds the IP remains blocked (0 when it is not). */
  async blockedForMs(ip: string): Promise<number> {
    const res = await this.limiter.get(ip);
    return res && res.consumedPoints > this.limiter.points ? Math.max(1, res.msBeforeNext) : 0;
  }

  /** Counts one invalid attempt; returns how long the IP is now blocked (0 when it is not). */
  async recordFailure(ip: string): Promise<number> {
    this.remember(ip);
    try {
      await this.limiter.consume(ip, 1);
      return 0;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return Math.max(1, rejection.msBeforeNext);
      throw rejection;
    }
  }

  /** True while the suspect map is full and every address is checked. */
  overflowing(): boolean {
    return this.overflowUntil > this.now();
  }

  private remember(ip: string): void {
    const now = this.now();
    const until = now + this.memoryMs;
    if (this.suspects.has(ip) || this.suspects.size < this.maxSuspects) {
      this.suspects.set(ip, until);
      return;
    }
    // Full: drop expired entries (at most once a second: a sweep is O(size)), else check everyone.
    if (now - this.lastPrune >= 1000) {
      this.lastPrune = now;
      for (const [suspect, expiry] of this.suspects) if (expiry <= now) this.suspects.delete(suspect);
    }
    if (this.suspects.size < this.maxSuspects) this.suspects.set(ip, until);
    else this.overflowUntil = until;
  }
}
