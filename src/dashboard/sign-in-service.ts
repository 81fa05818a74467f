/**
 * Sign-in with brute-force protection (rate-limiter-flexible, on the app's shared limit store):
 *
 * - consecutive failures per email + IP: after `failuresPerEmailAndIp` the pair is blocked for
 *   `blockSeconds`; a successful sign-in clears the count;
 * - failures per IP per day: after `failuresPerIpPerDay` the IP is blocked until the day's
 *   window ends, whatever email it tries.
 *
 * A blocked attempt is refused before the password is checked, with the time to retry.
 */
import type { RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { AppError } from '../errors';
import type { LimitBackend } from '@keyward/guard';
import type { User } from '../tenants/tenant-types';
import type { UserService } from '../users/user-service';

/** How many failed sign-ins are allowed before blocking. */
export interface SignInPolicy {
  failuresPerEmailAndIp: number;
  failuresPerIpPerDay: number;
  /** How long an email + IP pair stays blocked after too many consecutive failures. */
  blockSeconds?: number;
}

const DAY_SECONDS = 86_400;
const DEFAULT_BLOCK_SECONDS = 15 * 60;
const INVALID_MESSAGE = 'The email or password is not right.';

/** When a blocked sign-in may be tried again. */
export interface SignInBlock {
  retryAfterSeconds: number;
  retryAt: Date;
}

/** Why a sign-in was refused; `blocked` carries when to retry. */
export class SignInRefused extends AppError {
  constructor(
    readonly reason: 'invalid' | 'disabled' | 'blocked',
    message: string,
    readonly block?: SignInBlock,
  ) {
    super({
      status: reason === 'blocked' ? 429 : reason === 'disabled' ? 403 : 401,
      code: reason === 'blocked' ? 'sign_in_blocked' : reason === 'disabled' ? 'account_disabled' : 'invalid_credentials',
      message,
      headers: block ? { 'Retry-After': String(block.retryAfterSeconds) } : undefined,
    });
  }
}

function isLimiterRes(value: unknown): value is RateLimiterRes {
  return typeof value === 'object' && value !== null && 'msBeforeNext' in value && !(value instanceof Error);
}

/** Checks credentials for the dashboard and counts failures. */
export class SignInService {
  private readonly byEmailAndIp: RateLimiterAbstract;
  private readonly byIpPerDay: RateLimiterAbstract;
  private readonly policy: Required<SignInPolicy>;

  constructor(
    private readonly users: UserService,
    limits: LimitBackend,
    policy: SignInPolicy,
    private readonly clock: () => Date = () => new Date(),
  ) {
    for (const name of ['failuresPerEmailAndIp', 'failuresPerIpPerDay'] as const) {
      if (!Number.isInteger(policy[name]) || policy[name] < 1) {
        throw new TypeError(`SignInService: ${name} must be a whole number of at least 1.`);
      }
    }
    this.policy = { blockSeconds: DEFAULT_BLOCK_SECONDS, ...policy };
    this.byEmailAndIp = limits.createLimiter({
      keyPrefix: 'kw:login:email-ip',
      points: policy.failuresPerEmailAndIp,
      // Consecutive failures are forgotten after a quiet day even without a success.
      duration: DAY_SECONDS,
    });
    this.byIpPerDay = limits.createLimiter({
      keyPrefix: 'kw:login:ip-day',
      points: policy.failuresPerIpPerDay,
      duration: DAY_SECONDS,
    });
  }

  /**
   * The signed-in user, or a SignInRefused: `blocked` (429, with when to retry), `invalid` (401)
   * or `disabled` (403, only once the password was right).
   */
  async signIn(email: string, password: string, ip: string): Promise<User> {
    const pair = `${email.trim().toLowerCase()}|${ip}`;
    const blocked = await this.blockedFor(pair, ip);
    if (blocked) throw this.blockedError(blocked);

    const user = await this.users.authenticate(email, password);
    if (!user) {
      const now = await this.recordFailure(pair, ip);
      if (now) throw this.blockedError(now);
      throw new SignInRefused('invalid', INVALID_MESSAGE);
    }
    await this.byEmailAndIp.delete(pair);
    if (user.disabled) {
      throw new SignInRefused('disabled', 'This account is disabled. Ask an administrator of Keyward to enable it.');
    }
    return user;
  }

  /** Milliseconds the attempt must wait, or 0. */
  private async blockedFor(pair: string, ip: string): Promise<number> {
    const [pairState, ipState] = await Promise.all([this.byEmailAndIp.get(pair), this.byIpPerDay.get(ip)]);
    let wait = 0;
    // block() marks a pair with points + 1; the per-IP window blocks once it is full.
    if (pairState && pairState.consumedPoints > this.policy.failuresPerEmailAndIp) wait = pairState.msBeforeNext;
    if (ipState && ipState.consumedPoints >= this.policy.failuresPerIpPerDay) wait = Math.max(wait, ipState.msBeforeNext);
    return wait;
  }

  /** Counts a failure; returns the wait when this failure reached a limit, else 0. */
  private async recordFailure(pair: string, ip: string): Promise<number> {
    const consume = (limiter: RateLimiterAbstract, key: string) =>
      limiter.consume(key).catch((rejection: unknown) => {
        if (isLimiterRes(rejection)) return rejection;
        throw rejection;
      });
    const [pairState, ipState] = await Promise.all([consume(this.byEmailAndIp, pair), consume(this.byIpPerDay, ip)]);
    let wait = 0;
    if (pairState.consumedPoints >= this.policy.failuresPerEmailAndIp) {
      await this.byEmailAndIp.block(pair, this.policy.blockSeconds);
      wait = this.policy.blockSeconds * 1000;
    }
    if (ipState.consumedPoints >= this.policy.failuresPerIpPerDay) wait = Math.max(wait, ipState.msBeforeNext);
    return wait;
  }

  private blockedError(waitMs: number): SignInRefused {
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    const retryAt = new Date(this.clock().getTime() + retryAfterSeconds * 1000);
    return new SignInRefused(
      'blocked',
      `Too many failed sign-ins. Try again in ${describeWait(retryAfterSeconds)} (after ${retryAt.toISOString().slice(0, 16).replace('T', ' ')} UTC).`,
      { retryAfterSeconds, retryAt },
    );
  }
}

/** "15 minutes", "3 hours", "40 seconds". */
export function describeWait(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.ceil(minutes / 60);
  return `${hours} hours`;
}
