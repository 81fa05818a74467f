/**
 * Calls to Keyward's verify API (POST /api/v1/keys/verify and the settlement of its reservations)
 * with a timeout each, and the shape of its answer. Anything but a well-formed 200 answer is a
 * KeywardUnavailable: the guard then refuses with 503 rather than guess.
 */
import type { BudgetPeriod, UsageLimitPeriod } from '../keys/key-types';

/** One request window as the verify API reports it. */
export interface VerifyWindow {
  window: string;
  limit: number;
  remaining: number;
  /** Seconds until it resets. */
  reset: number;
  resetsAt: string;
}

/** The answer of POST /api/v1/keys/verify. */
export interface VerifyAnswer {
  valid: boolean;
  code: string;
  message: string | null;
  level: 'key' | 'owner' | 'tenant' | null;
  key: {
    id: string;
    name: string;
    tenantId: string;
    ownerId: string | null;
    scopes: string[];
    metadata: Record<string, unknown>;
    expiresAt: string | null;
  } | null;
  rateLimits: VerifyWindow[];
  quota: { used: number; limit: number; remaining: number; period: UsageLimitPeriod; resetsAt: string | null } | null;
  budget: { limitCents: number; period: BudgetPeriod; spentCents: number; remainingCents: number; resetsAt: string | null } | null;
  /** Seconds a refused request should wait (Keyward's Retry-After); absent from older servers. */
  retryAfter?: number | null;
  reservationId?: string;
}

/** What the guard asks Keyward to check. */
export interface VerifyCall {
  key: string;
  ip?: string;
  scopes: readonly string[];
  model?: string;
  chatbot?: string;
  costMicroCents: number;
  tokens: number;
}

/** Keyward could not give a verdict: unreachable, too slow, or it refused the guard itself. */
export class KeywardUnavailable extends Error {
  constructor(
    message: string,
    /** Keyward's own Retry-After (seconds), when it sent one. */
    readonly retryAfterSeconds: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KeywardUnavailable';
  }
}

/** Keyward refused the described request as malformed (400): the client's request is at fault. */
export class DescribedRequestInvalid extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DescribedRequestInvalid';
  }
}

export interface VerifyClientOptions {
  url: string;
  credential: string;
  timeoutMs: number;
}

/** The HTTP side of the remote guard. */
export class VerifyClient {
  private readonly verifyUrl: string;

  constructor(private readonly options: VerifyClientOptions) {
    this.verifyUrl = new URL('/api/v1/keys/verify', options.url).toString();
  }

  /** Verifies and counts (consume: true) a described request. */
  async verify(call: VerifyCall): Promise<VerifyAnswer> {
    const body: Record<string, unknown> = { key: call.key, scopes: call.scopes, consume: true };
    if (call.ip !== undefined) body.ip = call.ip;
    if (call.model !== undefined) body.model = call.model;
    if (call.chatbot !== undefined) body.chatbot = call.chatbot;
    if (call.costMicroCents > 0) body.cost = { microCents: call.costMicroCents };
    if (call.tokens > 0) body.tokens = call.tokens;
    const answer = await this.post(this.verifyUrl, body);
    if (!isAnswer(answer)) throw new KeywardUnavailable('Keyward answered the verification with an unexpected body');
    return answer;
  }

  /** Settles a reservation with what the request used. */
  async settle(reservationId: string, used: { costMicroCents: number; tokens: number }): Promise<void> {
    const url = `${this.verifyUrl}/${encodeURIComponent(reservationId)}/settle`;
    await this.post(url, { costMicroCents: Math.max(0, Math.round(used.costMicroCents)), tokens: Math.max(0, Math.round(used.tokens)) });
  }

  private async post(url: string, body: unknown): Promise<unknown> {
    let res: Response;
    let parsed: unknown;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.credential}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      parsed = await res.json().catch(() => null);
    } catch (error) {
      const timedOut = (error as Error | null)?.name === 'TimeoutError';
      const message = timedOut ? `Keyward did not answer within ${this.options.timeoutMs} ms` : 'Keyward cannot be reached';
      throw new KeywardUnavailable(message, null, { cause: error });
    }
    if (res.ok) return parsed;
    const error = (parsed as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    const code = typeof error?.code === 'string' ? error.code : 'unknown';
    const message = typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`;
    if (res.status === 400) throw new DescribedRequestInvalid(message);
    const retryAfter = Number(res.headers.get('retry-after'));
    // 401/403: the guard's own credential is refused (revoked, or without keys:verify); 429: its
    // verify window is full; 5xx: Keyward is in trouble. None of it is the client's fault.
    throw new KeywardUnavailable(`Keyward refused the call (${res.status} ${code}): ${message}`, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
  }
}

function isAnswer(value: unknown): value is VerifyAnswer {
  const answer = value as Partial<VerifyAnswer> | null;
  return (
    typeof answer === 'object' &&
    answer !== null &&
    typeof answer.valid === 'boolean' &&
    typeof answer.code === 'string' &&
    Array.isArray(answer.rateLimits) &&
    (answer.key === null || (typeof answer.key === 'object' && typeof answer.key?.id === 'string')) &&
    (!answer.valid || answer.key !== null)
  );
}
