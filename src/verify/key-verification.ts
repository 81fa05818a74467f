/**
 * Key verification for other services (POST /api/v1/keys/verify): a request described by a
 * service (the key its client presented, the client's address, model, chatbot, scopes, what it may
 * cost) goes through the /api guard's own checks, in its order, on the same counters, and is
 * recorded like an /api request of that key (usage, outcomes, request log). Only keys of the
 * caller's tenant are found; another tenant's key reads as `invalid_api_key`.
 *
 * A request that may cost money or tokens (or takes a concurrency slot) keeps its reservations
 * until the service settles them with what was really used; the reservation travels as a signed
 * token (reservation-token.ts), so any instance can settle it. One that is never settled is charged
 * in full when it expires, by the instance that made it (with Redis, also by the ledger's own
 * expiry should that instance die), and is settled once: the first of settlement and expiry wins.
 */
import { randomBytes } from 'node:crypto';
import type { Request } from 'express';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { invalidState, notFound } from '../errors';
import { type ApiKeyRecord, clientAddress, type GuardAttempt, type HeaderSink, heldBy, type HeldRequest, type KeyGuard, type KeyStore, type LimitBackend, type LimitStatus, limitStatus, type Refusal, requestFacts } from '@keyward/guard';
import { type ReservationTicket, ReservationTokens } from './reservation-token';
import { parseSettleRequest, parseVerifyRequest, type VerifyRequest } from './verify-input';

/** How long a verified request's reservation waits for its settlement (below the ledger's 11 minutes). */
export const VERIFY_RESERVATION_TTL_MS = 10 * 60_000;

/** The answer of POST /api/v1/keys/verify. */
export interface VerifyResult {
  valid: boolean;
  code: string;
  message: string | null;
  /** Where a limit refused (key, owner or tenant). */
  level: string | null;
  key: { id: string; name: string; tenantId: string; ownerId: string | null; scopes: string[]; metadata: Record<string, unknown>; expiresAt: string | null } | null;
  rateLimits: LimitStatus['rateLimits'];
  quota: LimitStatus['quota'];
  budget: LimitStatus['budget'];
  /** On a refusal: the seconds /api would send as Retry-After (null where waiting does not help). */
  retryAfter: number | null;
  /** Set when the request holds reservations: settle them with POST /verify/{reservationId}/settle. */
  reservationId?: string;
  /** When an unsettled reservation is charged in full. */
  expiresAt?: string;
}

/** Headers the checks set, kept (the verdict is JSON: rate-limit headers are not passed on). */
class HeaderBag implements HeaderSink {
  private readonly values = new Map<string, unknown>();
  setHeader(name: string, value: string): void {
    this.values.set(name.toLowerCase(), value);
  }
  getHeader(name: string): unknown {
    return this.values.get(name.toLowerCase());
  }
}

/** A request described to the verify API, as the guard's checks read it. */
class DescribedAttempt implements GuardAttempt {
  key: ApiKeyRecord | null = null;
  readonly headers = new HeaderBag();

  constructor(
    readonly req: Request,
    readonly tenantId: string,
    private readonly input: VerifyRequest,
    readonly ip: string,
    readonly startedAt: number,
  ) {}

  presented(): string | null {
    return this.input.key;
  }
  requiredScopes(): readonly string[] {
    return this.input.scopes ?? [];
  }
  model(): string | undefined {
    return this.input.model;
  }
  chatbot(): string | undefined {
    return this.input.chatbot;
  }
  validate(): void {
    // The body was validated before the checks ran.
  }
  bounds(): { costMicroCents: number; tokens: number } {
    return { costMicroCents: this.input.cost?.microCents ?? 0, tokens: this.input.tokens ?? 0 };
  }
  facts(key: ApiKeyRecord, at: number, status: number) {
    const { req } = this;
    return requestFacts(
      key,
      { ip: this.ip, startedAt: this.startedAt, model: this.input.model, chatbot: this.input.chatbot, requestId: (req as { id?: unknown }).id, userAgent: req.headers['user-agent'] },
      at,
      status,
    );
  }
}

export interface KeyVerificationOptions {
  /** The /api guard's checks (createKeyGuard with the /api options: key store, limits, levels, usage). */
  guard: KeyGuard;
  limits: LimitBackend;
  keys: KeyStore;
  /** KEY_HASH_SECRET: signs reservation tokens. */
  secret: string;
  ttlMs?: number;
  now?: () => number;
}

/** Verifies described requests and settles their reservations. */
export class KeyVerification {
  private readonly tokens: ReservationTokens;
  private readonly ttlMs: number;
  private readonly now: () => number;
  /** Settlement happens once, whichever instance, settlement or expiry comes first. */
  private readonly settledOnce: RateLimiterAbstract;
  /** This instance's unsettled reservations, charged in full at expiry or on a graceful stop. */
  private readonly pending = new Map<string, { request: HeldRequest; timer: NodeJS.Timeout }>();

  constructor(private readonly options: KeyVerificationOptions) {
    this.tokens = new ReservationTokens(options.secret);
    this.ttlMs = options.ttlMs ?? VERIFY_RESERVATION_TTL_MS;
    this.now = options.now ?? Date.now;
    this.settledOnce = options.limits.createLimiter({ keyPrefix: 'kw:verify:settled', points: 1, duration: Math.ceil((2 * this.ttlMs) / 1000) });
  }

  /** Checks a described request for a caller of `tenantId` (`req`: the verify call). */
  async verify(req: Request, tenantId: string, body: unknown): Promise<VerifyResult> {
    const input = parseVerifyRequest(body);
    const consume = input.consume ?? true;
    const ip = clientAddress(input.ip ?? req.ip);
    const attempt = new DescribedAttempt(req, tenantId, input, ip, this.now());
    const verdict = await this.options.guard.check(attempt, consume);
    if (verdict.refusal) return this.refused(attempt, verdict.refusal);
    const { admission } = verdict;
    const result = await this.valid(admission.key);
    if (!consume) return result;
    const request = heldBy(admission);
    if (request.held.length === 0) {
      this.options.guard.finish(request, { outcome: 'ok', status: 200, reported: { tokens: 0, costMicroCents: 0 }, chargeUnknown: false });
      return result;
    }
    const ticket = this.ticketOf(request, ip, input);
    this.hold(ticket.id, request);
    return { ...result, reservationId: this.tokens.sign(ticket), expiresAt: new Date(ticket.expiresAt).toISOString() };
  }

  /** Settles a reservation with what the request used; refused once settled or expired. */
  async settle(req: Request, tenantId: string, reservationId: string, body: unknown): Promise<{ settled: true; costMicroCents: number; tokens: number }> {
    const input = parseSettleRequest(body);
    const ticket = this.tokens.read(reservationId);
    if (!ticket || ticket.tenantId !== tenantId) throw notFound('Reservation');
    if (ticket.expiresAt <= this.now() || !(await this.claimSettlement(ticket.id))) {
      throw invalidState('This reservation was settled already, or it expired and was charged in full.');
    }
    const local = this.pending.get(ticket.id);
    if (local) clearTimeout(local.timer);
    this.pending.delete(ticket.id);
    const request = local?.request ?? (await this.requestOf(req, ticket));
    const tokens = input.tokens ?? 0;
    this.options.guard.finish(request, { outcome: 'ok', status: 200, reported: { tokens, costMicroCents: input.costMicroCents }, chargeUnknown: false });
    return { settled: true, costMicroCents: input.costMicroCents, tokens };
  }

  /** Charges this instance's unsettled reservations in full (a graceful stop loses none). */
  async close(): Promise<void> {
    const pending = [...this.pending.entries()];
    this.pending.clear();
    for (const [id, { request, timer }] of pending) {
      clearTimeout(timer);
      if (await this.claimSettlement(id).catch(() => true)) this.chargeInFull(request);
    }
  }

  private hold(id: string, request: HeldRequest): void {
    const timer = setTimeout(() => {
      this.pending.delete(id);
      this.claimSettlement(id)
        .then((first) => first && this.chargeInFull(request))
        .catch(() => this.chargeInFull(request));
    }, this.ttlMs);
    timer.unref();
    this.pending.set(id, { request, timer });
  }

  private chargeInFull(request: HeldRequest): void {
    this.options.guard.finish(request, { outcome: 'client_closed', status: 200, reported: { tokens: 0, costMicroCents: 0 }, chargeUnknown: true });
  }

  /** True for the first caller per reservation, across instances. */
  private async claimSettlement(id: string): Promise<boolean> {
    try {
      await this.settledOnce.consume(id, 1);
      return true;
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) return false;
      throw rejection;
    }
  }

  private ticketOf(request: HeldRequest, ip: string, input: VerifyRequest): ReservationTicket {
    const { key, held, bounds, periodStart, attempt, budgeted } = request;
    return {
      id: randomBytes(12).toString('base64url'),
      tenantId: key.tenantId,
      keyId: key.id,
      expiresAt: this.now() + this.ttlMs,
      startedAt: attempt.startedAt,
      ip,
      model: input.model ?? null,
      chatbot: input.chatbot ?? null,
      bounds,
      budgetPeriodStart: periodStart,
      budgeted,
      held,
    };
  }

  /** What a ticket holds, on an instance that did not make it. */
  private async requestOf(req: Request, ticket: ReservationTicket): Promise<HeldRequest> {
    // A key deleted since: its usage is not written (the usage writer skips deleted keys), its counters settle.
    const key = (await this.options.keys.findKey(ticket.keyId)) ?? ({ id: ticket.keyId, tenantId: ticket.tenantId } as ApiKeyRecord);
    const input: VerifyRequest = { key: '', model: ticket.model ?? undefined, chatbot: ticket.chatbot ?? undefined };
    return {
      attempt: new DescribedAttempt(req, ticket.tenantId, input, ticket.ip, ticket.startedAt),
      key,
      bounds: ticket.bounds,
      periodStart: ticket.budgetPeriodStart,
      held: ticket.held,
      budgeted: ticket.budgeted,
    };
  }

  private async valid(key: ApiKeyRecord): Promise<VerifyResult> {
    const status = await limitStatus(this.options.limits, key, this.now());
    return { valid: true, code: 'ok', message: null, level: null, key: presentKey(key), rateLimits: status.rateLimits, quota: status.quota, budget: status.budget, retryAfter: null };
  }

  private async refused(attempt: DescribedAttempt, refusal: Refusal): Promise<VerifyResult> {
    // A wrong secret names a real key: its settings are not told to whoever presented it.
    const key = refusal.code === 'invalid_api_key' || refusal.code === 'missing_api_key' ? null : attempt.key;
    const status = key ? await limitStatus(this.options.limits, key, this.now()) : null;
    return {
      valid: false,
      code: refusal.code,
      message: refusal.message,
      level: refusal.level ?? null,
      key: key ? presentKey(key) : null,
      rateLimits: status?.rateLimits ?? [],
      quota: status?.quota ?? null,
      budget: status?.budget ?? null,
      retryAfter: refusal.headers?.['Retry-After'] === undefined ? null : Number(refusal.headers['Retry-After']),
    };
  }
}

function presentKey(key: ApiKeyRecord): NonNullable<VerifyResult['key']> {
  return {
    id: key.id,
    name: key.name,
    tenantId: key.tenantId,
    ownerId: key.ownerId,
    scopes: key.scopes,
    metadata: key.metadata,
    expiresAt: key.expiresAt?.toISOString() ?? null,
  };
}
