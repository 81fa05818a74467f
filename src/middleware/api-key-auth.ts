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
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checksumMatches, parseKeyFormat } from '../keys/key-format';
import type { ApiKeyRecord } from '../keys/key-types';
import { missingScopes } from '../keys/scopes';
import type { LimitLedger, Reservation, Settlement } from '../limits/ledger';
import { createMemoryLimits } from '../limits/limits';
import { type Claim, keyClaims, levelClaims, type RequestBounds, setTokenWindowHeaders, settledAmount } from './claims';
import { clientAddress, presentedKey } from './credentials';
import { type DenialCode, DENIALS, deny } from './deny';
import { keyWindowsMeter, type Meter, separateWindowMeter } from './meters';
import { type ApiKeyAuthOptions, validateOptions } from './options';
import { Attempt } from './attempt';
import { OverdueResponses } from './overdue-responses';
import { type PreparedKey, prepare, verifyPresented } from './prepared-key';
import { RequestKey } from './request-key';
import { clientLeft, whenClosed } from './response-end';
import type { RefusalOutcome } from '../usage/usage-types';
import type { LimitLevel } from '../governance/level-types';

const CREDENTIAL_MESSAGES = {
  invalid_api_key: 'The API key is not valid. Check that it was copied completely.',
  key_revoked: 'This API key has been revoked.',
  key_inactive: 'This API key is deactivated.',
  key_expired: 'This API key has expired.',
} as const;

const MISSING_KEY = 'No API key: send it as "Authorization: Bearer <key>" or in the X-API-Key header.';
const GUESSING = 'Too many invalid API keys from this address. Try again later.';

function defaultModel(req: Request): string | undefined {
  const model = (req.body as { model?: unknown } | undefined)?.model;
  return typeof model === 'string' ? model : undefined;
}

function defaultChatbot(req: Request): string | undefined {
  const header = req.headers['x-chatbot-id'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

/** A request that passed every check, with what it reserved. */
interface Admission {
  attempt: Attempt;
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

/** Thrown by the `validate` option: forwarded to Express's error handler, nothing counted. */
class InvalidRequest {
  constructor(readonly error: unknown) {}
}

/** Creates the middleware. Options are checked now; a mistake throws a TypeError saying how to fix it. */
export function apiKeyAuth(options: ApiKeyAuthOptions): RequestHandler {
  validateOptions(options);
  const { keys, hasher, usage } = options;
  const limits = options.limits ?? createMemoryLimits();
  const ledger: LimitLedger = limits.ledger;
  const meter: Meter = options.rateLimit ? separateWindowMeter(limits, options.rateLimit) : keyWindowsMeter(limits);
  const now = options.now ?? Date.now;
  const getModel = options.model ?? defaultModel;
  const getChatbot = options.chatbot ?? defaultChatbot;
  const getClientIp = options.clientIp ?? ((req: Request) => req.ip);
  const timeoutMs = options.requestTimeoutMs ?? 600_000;
  const scopesOption = options.scopes ?? [];
  const requiredScopes = typeof scopesOption === 'function' ? scopesOption : () => scopesOption;
  const overdue = new OverdueResponses(now);
  const reportError = (error: unknown, req: Request) => options.onError?.(error, req);
  /** Answers a refusal; one of an identified key is told to the recorder with its outcome. */
  function refuse(attempt: Attempt, code: DenialCode, message: string, headers?: Record<string, string>, level?: LimitLevel): void {
    deny(attempt.res, code, message, headers, level);
    if (attempt.key && usage?.refused) {
      usage.refused({ ...attempt.facts(attempt.key, now(), DENIALS[code].status), outcome: code as RefusalOutcome });
    }
  }

  /** Refusals after the key is known also carry the rate-limit headers (without counting the request). */
  async function refuseKnown(attempt: Attempt, info: PreparedKey, code: DenialCode, message: string) {
    await meter.peek(attempt.res, (attempt.key as ApiKeyRecord).id, info);
    refuse(attempt, code, message);
  }

  /** An attempt that names no key (or comes from an address blocked for guessing), for the recorder. */
  function unknownKey(attempt: Attempt, blocked: boolean): void {
    usage?.unknownKey?.({ ip: attempt.ip, at: now(), blocked });
  }

  /** Looks the presented key up and checks it; answers and returns null when it is refused. */
  async function identify(attempt: Attempt, presented: string): Promise<ApiKeyRecord | null> {
    const { req, ip } = attempt;
    const blockedMs = limits.invalidKeys.mayBeBlocked(ip) ? await limits.invalidKeys.blockedForMs(ip) : 0;
    if (blockedMs > 0) {
      unknownKey(attempt, true);
      refuse(attempt, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(blockedMs / 1000)) });
      return null;
    }
    const parsed = parseKeyFormat(presented);
    let record: ApiKeyRecord | null = null;
    // A key already verified against the cached record skips checksum and HMAC (see prepared-key.ts);
    // any other well-formed key must pass the checksum before the store is asked.
    const cached = parsed ? keys.peek?.(parsed.id) : undefined;
    let lookedUp = false;
    if (cached && prepare(cached).verified.has(presented)) {
      record = cached;
    } else if (parsed && checksumMatches(presented)) {
      lookedUp = true;
      try {
        record = cached !== undefined ? cached : await keys.findKey(parsed.id);
      } catch (error) {
        reportError(error, req);
        refuse(attempt, 'service_unavailable', 'API keys cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
        return null;
      }
    }
    // An unknown id costs the same HMAC as a wrong secret, so timing does not tell which ids exist.
    const check = verifyPresented(record, record && prepare(record), presented, hasher, now(), lookedUp);
    if (check.ok) return record;
    // A wrong secret for a real id is a refusal of that key; anything else names no key.
    if (record) attempt.key = record;
    else unknownKey(attempt, false);
    if (check.code === 'invalid_api_key') {
      const nowBlockedMs = await limits.invalidKeys.recordFailure(ip);
      if (nowBlockedMs > 0) {
        refuse(attempt, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(nowBlockedMs / 1000)) });
        return null;
      }
    }
    refuse(attempt, check.code, CREDENTIAL_MESSAGES[check.code]);
    return null;
  }

  /** Checks that count nothing: IP, scopes, model, chatbot, then the request's own validity. */
  async function allowed(attempt: Attempt, key: ApiKeyRecord, info: PreparedKey): Promise<boolean> {
    const { req, ip } = attempt;
    if (!info.ipAllowed(ip)) {
      await refuseKnown(attempt, info, 'ip_not_allowed', `Requests from ${ip} are not allowed for this API key.`);
      return false;
    }
    const missing = missingScopes(key.scopes, requiredScopes(req));
    if (missing.length > 0) {
      const plural = missing.length > 1 ? 's' : '';
      await refuseKnown(attempt, info, 'insufficient_scope', `This API key lacks the scope${plural} ${missing.join(', ')}.`);
      return false;
    }
    if (info.models) {
      const model = getModel(req);
      if (model !== undefined && !info.models.has(model)) {
        await refuseKnown(attempt, info, 'model_not_allowed', `This API key may not use the model "${model}".`);
        return false;
      }
    }
    if (info.chatbots) {
      const chatbot = getChatbot(req);
      if (chatbot === undefined || !info.chatbots.has(chatbot)) {
        const message =
          chatbot === undefined
            ? 'This API key is limited to certain chatbots: name yours in the X-Chatbot-Id header.'
            : `This API key may not be used by the chatbot "${chatbot}".`;
        await refuseKnown(attempt, info, 'chatbot_not_allowed', message);
        return false;
      }
    }
    if (options.validate) {
      try {
        options.validate(req, key);
      } catch (error) {
        throw new InvalidRequest(error);
      }
    }
    return true;
  }

  /**
   * Counts the request: the key's rate windows, then every other counter of the key and of the
   * levels above it in one step (all or none, so a refusal at one level holds nothing elsewhere).
   */
  async function count(attempt: Attempt, key: ApiKeyRecord, info: PreparedKey): Promise<Admission | null> {
    const { req, res } = attempt;
    const rate = await meter.consume(res, key.id, info);
    if (!rate.allowed) {
      refuse(attempt, 'rate_limited', rate.message ?? 'Rate limit reached.', { 'Retry-After': String(rate.retryAfterSeconds ?? 1) }, meter.keyAllowance ? 'key' : undefined);
      return null;
    }
    const admitted = (bounds: RequestBounds, claims: Claim[], reservations: Reservation[]): Admission => {
      const i = claims.findIndex((c) => c.level === 'key' && c.request.kind === 'budget');
      return { attempt, key, info, bounds, claims, reservations, budget: i < 0 ? null : reservations[i], periodStart: i < 0 ? null : claims[i].request.periodStart };
    };
    if (!meter.keyAllowance) return admitted(NO_BOUNDS, [], []);

    const at = now();
    const bounds: RequestBounds = {
      costMicroCents: Math.max(0, Math.ceil(options.maxCost?.(req, key) ?? 0)),
      tokens: Math.max(0, Math.ceil(options.maxTokens?.(req, key) ?? 0)),
    };
    const claims = keyClaims(key, bounds, at);
    if (options.levels) {
      for (const entry of await options.levels.levelsOf(key)) claims.push(...levelClaims(entry, bounds, at));
    }
    if (claims.length === 0) return admitted(bounds, claims, []);
    const result = await ledger.reserveAll(claims.map((c) => c.request));
    if (!result.ok) {
      // Refused by a later limit: the request counts in none, the key's windows included.
      meter.refund(key.id).catch((error) => reportError(error, req));
      const claim = claims[result.refused];
      const refusal = claim.refusal(now());
      const headers = refusal.retryAfterSeconds === null ? undefined : { 'Retry-After': String(refusal.retryAfterSeconds) };
      refuse(attempt, refusal.code, refusal.message, headers, claim.level);
      return null;
    }
    setTokenWindowHeaders(res, claims, result.counters, at);
    return admitted(bounds, claims, result.reservations);
  }

  /** Runs every check in order; answers and returns null at the first refusal. */
  async function admit(attempt: Attempt): Promise<Admission | null> {
    const presented = presentedKey(attempt.req);
    if (!presented) {
      refuse(attempt, 'missing_api_key', MISSING_KEY);
      return null;
    }
    const key = await identify(attempt, presented);
    if (!key) return null;
    attempt.key = key;
    const info = prepare(key);
    if (!(await allowed(attempt, key, info))) return null;
    return count(attempt, key, info);
  }

  /**
   * Settles the request when its response closes: the budget reservation to what the handler
   * reported (or, if the client left before the response was complete and nothing was reported,
   * to the whole reservation: the cost is unknown), and its usage to the recorder.
   */
  function settleOnClose(admission: Admission, apiKey: RequestKey | null): void {
    const { attempt, key, claims, reservations, bounds, periodStart } = admission;
    const { req, res } = attempt;
    whenClosed(res, () => {
      const left = clientLeft(res);
      if (left) apiKey?.clientLeft();
      const reported = apiKey?.usage ?? { tokens: 0, costMicroCents: 0 };
      // The handler ran but the client left before a complete answer, and nothing was reported:
      // what it used is unknown, so the whole reservation is charged. (A handler that never ran
      // served nothing: nothing is charged.)
      const unknown = left && apiKey !== null;
      const used = {
        costMicroCents: unknown && reported.costMicroCents === 0 ? bounds.costMicroCents : reported.costMicroCents,
        tokens: unknown && reported.tokens === 0 ? bounds.tokens : reported.tokens,
      };
      if (claims.some((c) => c.settles !== 'now')) overdue.forget(res);
      const settlements: Settlement[] = [];
      claims.forEach((claim, i) => {
        const amount = settledAmount(claim, used);
        if (amount !== null) settlements.push({ reservation: reservations[i], used: amount });
      });
      if (settlements.length > 0) ledger.settleAll(settlements).catch((error) => reportError(error, req));
      const outcome = left ? 'client_closed' : res.statusCode < 400 ? 'ok' : 'failed';
      usage?.record({
        ...attempt.facts(key, now(), res.headersSent ? res.statusCode : 0),
        ok: outcome === 'ok',
        outcome,
        tokens: reported.tokens,
        // What the budgets were charged (equal to what was reported, unless the cost is unknown).
        costMicroCents: claims.some((c) => c.settles === 'cost') ? used.costMicroCents : reported.costMicroCents,
        budgetPeriodStart: periodStart,
      });
    });
  }

  return async function apiKeyAuthMiddleware(req: Request, res: Response, next: NextFunction): Promise<void> {
    const attempt = new Attempt(req, res, clientAddress(getClientIp(req)), now(), getModel, getChatbot);
    let admission: Admission | null;
    try {
      admission = await admit(attempt);
    } catch (error) {
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
      if (!res.headersSent) refuse(attempt, 'limits_unavailable', 'Usage limits cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
      return;
    }
    if (!admission) return;
    if (clientLeft(res)) {
      // The client left while the guard was checking: the handler does not run (nobody would get
      // its answer, and an upstream call would be paid for nothing); the request is settled as such.
      settleOnClose(admission, null);
      return;
    }
    const apiKey = new RequestKey(admission.key, admission.info.limits, admission.budget?.amount ?? 0);
    req.apiKey = apiKey;
    if (admission.claims.some((c) => c.settles !== 'now')) overdue.track(res, now() + timeoutMs);
    settleOnClose(admission, apiKey);
    next();
  };
}
