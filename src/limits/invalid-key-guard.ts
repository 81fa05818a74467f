import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Counts invalid-key attempts per client IP. An IP over the threshold is refused (429) for the
 * block period, whatever key it presents, so guessing gains nothing from a valid/invalid oracle.
 */
export class InvalidKeyGuard {
  /**
   * IPs with a recent invalid attempt, and until when they matter. Only these are looked up in the
   * limiter, so clean traffic never pays for the check (with a shared Redis limiter, an IP guessing
   * elsewhere gets one attempt here before the shared count blocks it).
   */
  private readonly suspects = new Map<string, number>();
  private readonly memoryMs: number;

  constructor(
    private readonly limiter: RateLimiterAbstract,
    private readonly now: () => number = Date.now,
  ) {
    this.memoryMs = (limiter.duration + limiter.blockDuration) * 1000;
  }

  /** False when the IP has no recent invalid attempt here: then it cannot be blocked. */
  mayBeBlocked(ip: string): boolean {
    const until = this.suspects.get(ip);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.suspects.delete(ip);
    return false;
  }

  /** Milliseconds the IP remains blocked (0 when it is not). */
  async blockedForMs(ip: string): Promise<number> {
    const res = await this.limiter.get(ip);
    return res && res.consumedPoints > this.limiter.points ? Math.max(1, res.msBeforeNext) : 0;
  }

  /** Counts one invalid attempt; returns how long the IP is now blocked (0 when it is not). */
  async recordFailure(ip: string): Promise<number> {
    if (this.suspects.size >= 100_000) this.suspects.clear();
    this.suspects.set(ip, this.now() + this.memoryMs);
    try {
      await this.limiter.consume(ip, 1);
      return 0;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return Math.max(1, rejection.msBeforeNext);
      throw rejection;
    }
  }
}
