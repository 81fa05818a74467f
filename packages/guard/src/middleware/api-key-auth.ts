/**
 * apiKeyAuth(): the middleware that guards an API with Keyward keys. The checks run in a fixed
 * order and the first failure answers (see README, "The /api contract"):
 *
 *   key present → not blocked for guessing → format/checksum → lookup → secret → status → expiry
 *   → client IP → scopes → model → chatbot → request validation → rate windows → one step for
 *   every counter of the key and the levels above it (requests in flight, quota, budget, token
 *   windows; the owner's and tenant's budgets and windows) → handler
 *
 * Nothing is counted before the request is known to be well-formed and allowed, and whatever was
 * reserved is settled on every way out: a refusal, a store failure, a client that leaves before
 * the handler runs, during it, or after. Nothing here writes to the database per request: keys
 * come from a cache, limits from the limit backend (memory or Redis), and usage goes to a buffered
 * recorder when the response ends. The path of a cached key does no I/O.
 *
 * createKeyGuard() exposes the same checks for requests that are described rather than received
 * (the verify API), so both run one implementation in one order, on the same counters.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { LimitLevel } from '../governance/level-types';
import { checksumMatches, parseKeyFormat } from '../keys/key-format';
import type { ApiKeyRecord } from '../keys/key-types';
import { missingScopes } from '../keys/scopes';
import type { LimitLedger, Reservation, ReserveAllResult, Settlement } from '../limits/ledger';
import { createMemoryLimits, type LimitBackend } from '../limits/limits';
import type { AdmittedOutcome, RefusalOutcome, UsageEvent } from '../usage/usage-types';
import { type GuardAttempt, HttpAttempt } from './attempt';
import { type Claim, keyClaims, type LevelEntry, levelClaims, type RequestBounds, type Settles, setTokenWindowHeaders, settledAmount } from './claims';
import { clientAddress, requestedChatbot, requestedModel } from './credentials';
import { type DenialCode, DENIALS, deny } from './deny';
import { keyWindowsMeter, type Meter, type MeterResult, separateWindowMeter } from './meters';
import { type ApiKeyAuthOptions, validateOptions } from './options';
import { type OverdueEntry, OverdueResponses } from './overdue-responses';
import { type PreparedKey, prepare, verifyPresented } from './prepared-key';
import { RequestKey } from './request-key';
import { clientLeft, whenClosed } from './response-end';

const CREDENTIAL_MESSAGES = {
  invalid_api_key: 'The API key is not valid. Check that it was copied completely.',
  key_revoked: 'This API key has been revoked.',
  key_inactive: 'This API key is deactivated.',
  key_expired: 'This API key has expired.',
} as const;

const MISSING_KEY = 'No API key: send it as "Authorization: Bearer <key>" or in the X-API-Key header.';
const GUESSING = 'Too many invalid API keys from this address. Try again later.';

/** A request that passed every check, with what it reserved. */
export interface Admission {
  attempt: GuardAttempt;
  key: ApiKeyRecord;
  info: PreparedKey;
  bounds: RequestBounds;
  /** What it claimed and the matching reservations (same order). */
  claims: Claim[];
  reservations: Reservation[];
  /** The key's budget reservation and its period (for req.apiKey and the usage record). */
  budget: Reservation | null;
  periodStart: number | null;
}

const NO_BOUNDS: RequestBounds = { costMicroCents: 0, tokens: 0 };

/** Thrown when the request's own validation refuses it (the `validate` option): nothing counted. */
export class InvalidRequest {
  constructor(readonly error: unknown) {}
}

/** Why the checks refused a request: what to answer, and where a limit refused. */
export interface Refusal {
  code: DenialCode;
  message: string;
  headers?: Record<string, string>;
  level?: LimitLevel;
}

/** What the checks decided: admitted with its reservations, or refused. */
export type Verdict = { admission: Admission; refusal?: undefined } | { admission?: undefined; refusal: Refusal };

/** How an admitted request ended, for its settlement and its usage record. */
export interface Ending {
  outcome: AdmittedOutcome;
  /** The HTTP status answered (0 when none was sent). */
  status: number;
  /** What the handler reported. */
  reported: { tokens: number; costMicroCents: number };
  /** Charge the whole reservation where nothing was reported (the cost is unknown). */
  chargeUnknown: boolean;
}

/** What an admitted request still holds until it ends (what finish() settles and records). */
export interface HeldRequest {
  attempt: GuardAttempt;
  key: ApiKeyRecord;
  bounds: RequestBounds;
  /** The key's budget period, for the usage record (null without a key budget). */
  periodStart: number | null;
  held: { settles: Settles; reservation: Reservation }[];
  /** True when a budget was claimed: the recorded cost is then what the budgets were charged. */
  budgeted: boolean;
}

/** What an admission holds until its request ends. */
export function heldBy(admission: Admission): HeldRequest {
  const { attempt, key, bounds, periodStart, claims, reservations } = admission;
  const held: HeldRequest['held'] = [];
  let budgeted = false;
  for (let i = 0; i < claims.length; i++) {
    const { settles } = claims[i];
    if (settles === 'cost') budgeted = true;
    if (settles !== 'now' && reservations[i]) held.push({ settles, reservation: reservations[i] });
  }
  return { attempt, key, bounds, periodStart, held, budgeted };
}

/** The guard's checks and settlement, for requests received (middleware) or described (check/finish). */
export interface KeyGuard {
  middleware: RequestHandler;
  /**
   * Runs every check in order on `attempt`. With `consume` false nothing is counted, reserved or
   * recorded: the counters are only read. Throws InvalidRequest when validation refuses, and a
   * store's error when a limit store fails.
   */
  check(attempt: GuardAttempt, consume: boolean): Promise<Verdict>;
  /** Settles what an admitted request holds and records its usage. */
  finish(request: HeldRequest, ending: Ending): void;
}

/** Creates the middleware. Options are checked now; a mistake throws a TypeError saying how to fix it. */
export function apiKeyAuth(options: ApiKeyAuthOptions): RequestHandler {
  return createKeyGuard(options).middleware;
}

/** The middleware and its checks, for callers that also check described requests (the verify API). */
export function createKeyGuard(options: ApiKeyAuthOptions): KeyGuard {
  validateOptions(options);
  const { keys, hasher, usage } = options;
  const limits = options.limits ?? createMemoryLimits();
  const ledger: LimitLedger = limits.ledger;
  const meter: Meter = options.rateLimit ? separateWindowMeter(limits, options.rateLimit) : keyWindowsMeter(limits);
  // A store that admits in one step (Redis) does so for the key's own windows and allowance.
  const admitOnce = meter.keyAllowance && meter.counted ? limits.admit?.bind(limits) : undefined;
  const now = options.now ?? Date.now;
  const getModel = options.model ?? requestedModel;
  const getChatbot = options.chatbot ?? requestedChatbot;
  const getClientIp = options.clientIp ?? ((req: Request) => req.ip);
  const timeoutMs = options.requestTimeoutMs ?? 600_000;
  const scopesOption = options.scopes ?? [];
  const requiredScopes = typeof scopesOption === 'function' ? scopesOption : () => scopesOption;
  const overdue = new OverdueResponses(now);
  const reportError = (error: unknown, req: Request) => options.onError?.(error, req);

  /**
   * A refusal; one of an identified key is told to the recorder with its outcome (unless nothing
   * is being counted: `record` false).
   */
  function refusal(attempt: GuardAttempt, record: boolean, code: DenialCode, message: string, headers?: Record<string, string>, level?: LimitLevel): Refusal {
    if (record && attempt.key && usage?.refused) {
      usage.refused({ ...attempt.facts(attempt.key, now(), DENIALS[code].status), outcome: code as RefusalOutcome });
    }
    return { code, message, headers, level };
  }

  /** Refusals after the key is known also carry the rate-limit headers (without counting the request). */
  async function refuseKnown(attempt: GuardAttempt, record: boolean, info: PreparedKey, code: DenialCode, message: string): Promise<Refusal> {
    await meter.peek(attempt.headers, (attempt.key as ApiKeyRecord).id, info);
    return refusal(attempt, record, code, message);
  }

  /** An attempt that names no key (or comes from an address blocked for guessing), for the recorder. */
  function unknownKey(attempt: GuardAttempt, record: boolean, blocked: boolean): void {
    if (record) usage?.unknownKey?.({ ip: attempt.ip, at: now(), blocked });
  }

  /** Looks the presented key up and checks it: the key, or why it is refused. */
  async function identify(attempt: GuardAttempt, record: boolean, presented: string, peeked?: Peeked): Promise<ApiKeyRecord | Refusal> {
    const { req, ip } = attempt;
    const blockedMs = limits.invalidKeys.mayBeBlocked(ip) ? await limits.invalidKeys.blockedForMs(ip) : 0;
    if (blockedMs > 0) {
      unknownKey(attempt, record, true);
      return refusal(attempt, record, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(blockedMs / 1000)) });
    }
    const parsed = parseKeyFormat(presented);
    let found: ApiKeyRecord | null = null;
    // A key already verified against the cached record skips checksum and HMAC (see prepared-key.ts);
    // any other well-formed key must pass the checksum before the store is asked.
    const cached = peeked ? peeked.value : parsed ? keys.peek?.(parsed.id) : undefined;
    let lookedUp = false;
    if (cached && prepare(cached).verified.has(presented) && inTenant(attempt, cached)) {
      found = cached;
    } else if (parsed && checksumMatches(presented)) {
      lookedUp = true;
      try {
        found = cached !== undefined ? cached : await keys.findKey(parsed.id);
      } catch (error) {
        reportError(error, req);
        return refusal(attempt, record, 'service_unavailable', 'API keys cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
      }
      // Another tenant's key reads as an unknown one, after the same work.
      if (found && !inTenant(attempt, found)) found = null;
    }
    // An unknown id costs the same HMAC as a wrong secret, so timing does not tell which ids exist.
    const check = verifyPresented(found, found && prepare(found), presented, hasher, now(), lookedUp);
    if (check.ok) return found as ApiKeyRecord;
    // A wrong secret for a real id is a refusal of that key; anything else names no key.
    if (found) attempt.key = found;
    else unknownKey(attempt, record, false);
    if (check.code === 'invalid_api_key' && record) {
      const nowBlockedMs = await limits.invalidKeys.recordFailure(ip);
      if (nowBlockedMs > 0) return refusal(attempt, record, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(nowBlockedMs / 1000)) });
    }
    return refusal(attempt, record, check.code, CREDENTIAL_MESSAGES[check.code]);
  }

  /**
   * Checks that count nothing: IP, scopes, model, chatbot, then the request's own validity. Null
   * (without a promise) when all pass; a refusal waits for the rate-limit headers.
   */
  function allowed(attempt: GuardAttempt, record: boolean, key: ApiKeyRecord, info: PreparedKey): Promise<Refusal> | null {
    const { ip } = attempt;
    if (!info.ipAllowed(ip)) {
      return refuseKnown(attempt, record, info, 'ip_not_allowed', `Requests from ${ip} are not allowed for this API key.`);
    }
    const missing = missingScopes(key.scopes, attempt.requiredScopes());
    if (missing.length > 0) {
      const plural = missing.length > 1 ? 's' : '';
      return refuseKnown(attempt, record, info, 'insufficient_scope', `This API key lacks the scope${plural} ${missing.join(', ')}.`);
    }
    if (info.models) {
      const model = attempt.model();
      if (model !== undefined && !info.models.has(model)) {
        return refuseKnown(attempt, record, info, 'model_not_allowed', `This API key may not use the model "${model}".`);
      }
    }
    if (info.chatbots) {
      const chatbot = attempt.chatbot();
      if (chatbot === undefined || !info.chatbots.has(chatbot)) {
        const message =
          chatbot === undefined
            ? 'This API key is limited to certain chatbots: name yours in the X-Chatbot-Id header.'
            : `This API key may not be used by the chatbot "${chatbot}".`;
        return refuseKnown(attempt, record, info, 'chatbot_not_allowed', message);
      }
    }
    try {
      attempt.validate(key);
    } catch (error) {
      throw new InvalidRequest(error);
    }
    return null;
  }

  /** The claims of a request on its key and the levels above it (levels may have to be read first). */
  function claimsOf(key: ApiKeyRecord, bounds: RequestBounds, at: number): Maybe<Claim[]> {
    const claims = keyClaims(key, bounds, at);
    if (!options.levels) return claims;
    const withLevels = (entries: LevelEntry[]) => {
      for (const entry of entries) claims.push(...levelClaims(entry, bounds, at));
      return claims;
    };
    return then(options.levels.levelsOf(key), withLevels);
  }

  function admitted(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey, bounds: RequestBounds, claims: Claim[], reservations: Reservation[]): Admission {
    const i = claims.findIndex((c) => c.level === 'key' && c.request.kind === 'budget');
    return { attempt, key, info, bounds, claims, reservations, budget: i < 0 ? null : reservations[i], periodStart: i < 0 ? null : claims[i].request.periodStart };
  }

  function limitRefusal(attempt: GuardAttempt, record: boolean, claim: Claim): Refusal {
    const refused = claim.refusal(now());
    const headers = refused.retryAfterSeconds === null ? undefined : { 'Retry-After': String(refused.retryAfterSeconds) };
    return refusal(attempt, record, refused.code, refused.message, headers, claim.level);
  }

  /**
   * Counts the request: the key's rate windows, then every other counter of the key and of the
   * levels above it in one step (all or none, so a refusal at one level holds nothing elsewhere).
   * With limits in this process and the levels cached this takes no promise at all: the answer
   * is returned as is (a promise only where a store or a ceiling raise must be waited for).
   */
  function count(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey): Maybe<Admission | Refusal> {
    if (admitOnce) return admitInOneStep(attempt, key, info, admitOnce);
    if (meter.consumeNow) return afterWindows(attempt, key, info, meter.consumeNow(attempt.headers, key.id, info));
    return meter.consume(attempt.headers, key.id, info).then((rate) => afterWindows(attempt, key, info, rate));
  }

  function afterWindows(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey, rate: MeterResult): Maybe<Admission | Refusal> {
    if (!rate.allowed) {
      const headers = { 'Retry-After': String(rate.retryAfterSeconds ?? 1) };
      return refusal(attempt, true, 'rate_limited', rate.message ?? 'Rate limit reached.', headers, meter.keyAllowance ? 'key' : undefined);
    }
    if (!meter.keyAllowance) return admitted(attempt, key, info, NO_BOUNDS, [], []);
    const at = now();
    const bounds = attempt.bounds(key);
    return then(claimsOf(key, bounds, at), (claims) => {
      if (claims.length === 0) return admitted(attempt, key, info, bounds, claims, []);
      const requests = claims.map((c) => c.request);
      const result = ledger.reserveAllNow?.(requests);
      if (result) return reserved(attempt, key, info, bounds, claims, at, result);
      return ledger.reserveAll(requests).then((later) => reserved(attempt, key, info, bounds, claims, at, later));
    });
  }

  /**
   * The same decision in one step of the store (Redis: one script, one round trip): the windows
   * and every counter together; a counter's refusal gives the request back to the windows there.
   */
  function admitInOneStep(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey, admit: NonNullable<LimitBackend['admit']>): Maybe<Admission | Refusal> {
    const at = now();
    const bounds = attempt.bounds(key);
    return then(claimsOf(key, bounds, at), (claims) =>
      admit(key.id, info.rateLimits, claims.map((c) => c.request)).then(({ rate, result }) => {
        const windows = (meter.counted as NonNullable<Meter['counted']>)(attempt.headers, rate, info);
        if (!windows.allowed || !result) {
          const headers = { 'Retry-After': String(windows.retryAfterSeconds ?? 1) };
          return refusal(attempt, true, 'rate_limited', windows.message ?? 'Rate limit reached.', headers, 'key');
        }
        if (!result.ok) return limitRefusal(attempt, true, claims[result.refused]);
        setTokenWindowHeaders(attempt.headers, claims, result.counters, at);
        return admitted(attempt, key, info, bounds, claims, result.reservations);
      }),
    );
  }

  function reserved(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey, bounds: RequestBounds, claims: Claim[], at: number, result: ReserveAllResult): Admission | Refusal {
    if (!result.ok) {
      // Refused by a later limit: the request counts in none, the key's windows included.
      if (meter.refundNow) meter.refundNow(key.id);
      else meter.refund(key.id).catch((error) => reportError(error, attempt.req));
      return limitRefusal(attempt, true, claims[result.refused]);
    }
    setTokenWindowHeaders(attempt.headers, claims, result.counters, at);
    return admitted(attempt, key, info, bounds, claims, result.reservations);
  }

  /** What count() would decide, from the counters as they are: nothing is counted or reserved. */
  async function look(attempt: GuardAttempt, key: ApiKeyRecord, info: PreparedKey): Promise<Admission | Refusal> {
    const rate = await meter.wouldAllow(attempt.headers, key.id, info);
    if (!rate.allowed) {
      const headers = { 'Retry-After': String(rate.retryAfterSeconds ?? 1) };
      return refusal(attempt, false, 'rate_limited', rate.message ?? 'Rate limit reached.', headers, meter.keyAllowance ? 'key' : undefined);
    }
    if (!meter.keyAllowance) return admitted(attempt, key, info, NO_BOUNDS, [], []);
    const bounds = attempt.bounds(key);
    for (const claim of await claimsOf(key, bounds, now())) {
      const { keyId, kind, periodStart, limit, amount, baseline } = claim.request;
      const usage = await ledger.usage(keyId, kind, periodStart, baseline);
      if (usage.used + usage.reserved + amount > limit) return limitRefusal(attempt, false, claim);
    }
    return admitted(attempt, key, info, bounds, [], []);
  }

  /**
   * A key this process verified already and that is cached: found without the store, the
   * checksum or the HMAC (undefined: the full identification decides, whatever the reason).
   */
  function knownKey(attempt: GuardAttempt, presented: string): { key?: ApiKeyRecord; peeked?: Peeked } {
    if (!keys.peek || limits.invalidKeys.mayBeBlocked(attempt.ip)) return {};
    const parsed = parseKeyFormat(presented);
    if (!parsed) return {};
    // What the cache answered is handed on to identify(): one peek per request (the cache counts them).
    const cached = keys.peek(parsed.id);
    const peeked = { value: cached };
    if (!cached || !inTenant(attempt, cached)) return { peeked };
    const info = prepare(cached);
    if (!info.verified.has(presented)) return { peeked };
    return verifyPresented(cached, info, presented, hasher, now()).ok ? { key: cached } : { peeked };
  }

  /**
   * Runs every check in order: the admission, or the first refusal. A cached key whose limits
   * live in this process is decided without a promise (the common case on one instance); anything
   * that waits for a store returns a promise.
   */
  function decide(attempt: GuardAttempt, consume: boolean): Maybe<Verdict> {
    const presented = attempt.presented();
    if (!presented) return { refusal: refusal(attempt, consume, 'missing_api_key', MISSING_KEY) };
    const known = knownKey(attempt, presented);
    if (known.key) return identified(attempt, consume, known.key);
    return identify(attempt, consume, presented, known.peeked).then((key) => identified(attempt, consume, key));
  }

  function identified(attempt: GuardAttempt, consume: boolean, key: ApiKeyRecord | Refusal): Maybe<Verdict> {
    if (!isKey(key)) return { refusal: key };
    attempt.key = key;
    const info = prepare(key);
    const refused = allowed(attempt, consume, key, info);
    if (refused) return refused.then((r) => ({ refusal: r }));
    const decided = consume ? count(attempt, key, info) : look(attempt, key, info);
    return then(decided, (d) => (isAdmission(d) ? { admission: d } : { refusal: d }));
  }

  async function check(attempt: GuardAttempt, consume: boolean): Promise<Verdict> {
    return decide(attempt, consume);
  }

  /**
   * Settles an admitted request: its reservations to what was used (the whole reservation where
   * the cost is unknown) and its usage to the recorder.
   */
  function finish(request: HeldRequest, ending: Ending): void {
    const { attempt, key, held, bounds, periodStart } = request;
    const { reported, chargeUnknown } = ending;
    const used = {
      costMicroCents: chargeUnknown && reported.costMicroCents === 0 ? bounds.costMicroCents : reported.costMicroCents,
      tokens: chargeUnknown && reported.tokens === 0 ? bounds.tokens : reported.tokens,
    };
    const settlements: Settlement[] = [];
    for (const { settles, reservation } of held) {
      const amount = settledAmount(settles, used);
      if (amount !== null) settlements.push({ reservation, used: amount });
    }
    if (settlements.length > 0) {
      if (ledger.settleAllNow) ledger.settleAllNow(settlements);
      else ledger.settleAll(settlements).catch((error) => reportError(error, attempt.req));
    }
    if (!usage) return;
    // The facts object is this request's own: completed in place into the usage event.
    const event = attempt.facts(key, now(), ending.status) as UsageEvent;
    event.ok = ending.outcome === 'ok';
    event.outcome = ending.outcome;
    event.tokens = reported.tokens;
    // What the budgets were charged (equal to what was reported, unless the cost is unknown).
    event.costMicroCents = request.budgeted ? used.costMicroCents : reported.costMicroCents;
    event.budgetPeriodStart = periodStart;
    usage.record(event);
  }

  /**
   * Settles the request when its response closes: to what the handler reported, or, if the client
   * left before the response was complete and nothing was reported, to the whole reservation (the
   * cost is unknown). A handler that never ran (apiKey null) served nothing: nothing is charged.
   */
  function settleOnClose(admission: Admission, res: Response, apiKey: RequestKey | null, tracked: OverdueEntry | null): void {
    whenClosed(res, () => {
      const left = clientLeft(res);
      if (left) apiKey?.clientLeft();
      if (tracked) overdue.forget(tracked);
      finish(heldBy(admission), {
        outcome: left ? 'client_closed' : res.statusCode < 400 ? 'ok' : 'failed',
        status: res.headersSent ? res.statusCode : 0,
        reported: apiKey?.usage ?? { tokens: 0, costMicroCents: 0 },
        chargeUnknown: left && apiKey !== null,
      });
    });
  }

  const hooks = {
    model: getModel,
    chatbot: getChatbot,
    scopes: requiredScopes,
    validate: options.validate,
    maxCost: options.maxCost,
    maxTokens: options.maxTokens,
  };

  /** A check that threw: refused by `validate` (the app's error handler answers) or a failed store. */
  function failed(attempt: HttpAttempt, req: Request, res: Response, next: NextFunction, error: unknown): void {
    if (error instanceof InvalidRequest) {
      // Refused by `validate`: the app's error handler answers; the refusal is recorded with its status.
      const key = attempt.key as ApiKeyRecord;
      if (usage?.refused) {
        whenClosed(res, () => usage.refused?.({ ...attempt.facts(key, now(), res.statusCode), outcome: 'invalid_request' }));
      }
      next(error.error);
      return;
    }
    // A limit store (Redis, a ceiling write) failed: refuse rather than guess.
    reportError(error, req);
    if (!res.headersSent) {
      const refused = refusal(attempt, true, 'limits_unavailable', 'Usage limits cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
      deny(res, refused.code, refused.message, refused.headers);
    }
  }

  /** Answers a refusal, or lets an admitted request through to the handler. */
  function proceed(req: Request, res: Response, next: NextFunction, verdict: Verdict): void {
    if (verdict.refusal) {
      deny(res, verdict.refusal.code, verdict.refusal.message, verdict.refusal.headers, verdict.refusal.level);
      return;
    }
    const admission = verdict.admission;
    // Whether the request holds a reservation until it ends (what a response past its deadline must give back).
    const holding = admission.claims.some(holdsUntilEnd);
    if (clientLeft(res)) {
      // The client left while the guard was checking: the handler does not run (nobody would get
      // its answer, and an upstream call would be paid for nothing); the request is settled as such.
      settleOnClose(admission, res, null, null);
      return;
    }
    const apiKey = new RequestKey(admission.key, admission.info.limits, admission.budget?.amount ?? 0);
    req.apiKey = apiKey;
    settleOnClose(admission, res, apiKey, holding ? overdue.track(res, now() + timeoutMs) : null);
    next();
  }

  // Not an async function: a request decided without waiting goes to its handler in the same tick.
  function apiKeyAuthMiddleware(req: Request, res: Response, next: NextFunction): void | Promise<void> {
    const attempt = new HttpAttempt(req, res, clientAddress(getClientIp(req)), now(), hooks);
    let verdict: Maybe<Verdict>;
    try {
      verdict = decide(attempt, true);
    } catch (error) {
      failed(attempt, req, res, next, error);
      return;
    }
    if (isPromise(verdict)) {
      return verdict.then(
        (decided) => proceed(req, res, next, decided),
        (error: unknown) => failed(attempt, req, res, next, error),
      );
    }
    proceed(req, res, next, verdict);
  }

  return { middleware: apiKeyAuthMiddleware, check, finish };
}

const holdsUntilEnd = (claim: Claim) => claim.settles !== 'now';

/** Whether a guard option scopes only keys of a tenant (a described request can). */
function inTenant(attempt: GuardAttempt, key: ApiKeyRecord): boolean {
  return attempt.tenantId === undefined || attempt.tenantId === key.tenantId;
}

/** What the key cache answered for a presented id (a key, null for a known-unknown id, undefined when not cached). */
interface Peeked {
  value: ApiKeyRecord | null | undefined;
}

/** A value, or a promise of it where a store had to be waited for. */
type Maybe<T> = T | Promise<T>;

function isPromise<T>(value: Maybe<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function';
}

/** Applies `fn` now to a value, or once its promise resolves. */
function then<T, U>(value: Maybe<T>, fn: (resolved: T) => Maybe<U>): Maybe<U> {
  return isPromise(value) ? value.then(fn) : fn(value);
}

function isKey(value: ApiKeyRecord | Refusal): value is ApiKeyRecord {
  return (value as ApiKeyRecord).secretHash !== undefined;
}

function isAdmission(value: Admission | Refusal): value is Admission {
  return (value as Admission).attempt !== undefined;
}
