/**
 * apiKeyAuth(): the middleware that guards an API with Keyward keys. The checks run in a fixed
 * order and the first failure answers (see README, "The /api contract"):
 *
 *   key present → not blocked for guessing → format/checksum → lookup → secret → status → expiry
 *   → client IP → scopes → model → chatbot → rate windows → quota → budget → handler
 *
 * Nothing here writes to the database per request: keys come from a cache, limits from the
 * limit backend (memory or Redis), and usage goes to a buffered recorder when the response ends.
 * The path of a cached key does no I/O; it is kept lean because it runs on every API call.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { checksumMatches, parseKeyFormat } from '../keys/key-format';
import type { ApiKeyRecord, RateLimits } from '../keys/key-types';
import { missingScopes } from '../keys/scopes';
import { budgetBaseline, quotaBaseline } from '../limits/key-baselines';
import type { Reservation } from '../limits/ledger';
import { createMemoryLimits } from '../limits/limits';
import { budgetPeriodStart } from '../limits/periods';
import { rateLimitHeaders, type WindowState } from '../limits/rate-windows';
import { clientAddress, presentedKey } from './credentials';
import { type DenialCode, deny } from './deny';
import { type ApiKeyAuthOptions, validateOptions } from './options';
import { OverdueResponses } from './overdue-responses';
import { type PreparedKey, prepare, verifyPresented } from './prepared-key';
import { RequestKey } from './request-key';

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

function setRateHeaders(res: Response, windows: WindowState[], limits: RateLimits): void {
  const headers = rateLimitHeaders(windows, limits);
  res.setHeader('RateLimit-Policy', headers.policy);
  res.setHeader('RateLimit', headers.current);
}

/** Creates the middleware. Options are checked now; a mistake throws a TypeError saying how to fix it. */
export function apiKeyAuth(options: ApiKeyAuthOptions): RequestHandler {
  validateOptions(options);
  const { keys, hasher, usage } = options;
  const limits = options.limits ?? createMemoryLimits();
  const now = options.now ?? Date.now;
  const getModel = options.model ?? defaultModel;
  const getChatbot = options.chatbot ?? defaultChatbot;
  const getClientIp = options.clientIp ?? ((req: Request) => req.ip);
  const timeoutMs = options.requestTimeoutMs ?? 600_000;
  const scopesOption = options.scopes ?? [];
  const requiredScopes = typeof scopesOption === 'function' ? scopesOption : () => scopesOption;
  const overdue = new OverdueResponses(now);
  const reportError = (error: unknown, req: Request) => options.onError?.(error, req);

  /** Refusals after the key is known also carry the rate-limit headers (without counting the request). */
  async function refuseKnown(res: Response, key: ApiKeyRecord, info: PreparedKey, code: DenialCode, message: string) {
    setRateHeaders(res, await limits.rateWindows.peek(key.id, info.rateLimits), info.rateLimits);
    deny(res, code, message);
  }

  /** Looks the presented key up and checks it; answers and returns null when it is refused. */
  async function identify(req: Request, res: Response, presented: string, ip: string): Promise<ApiKeyRecord | null> {
    const blockedMs = limits.invalidKeys.mayBeBlocked(ip) ? await limits.invalidKeys.blockedForMs(ip) : 0;
    if (blockedMs > 0) {
      deny(res, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(blockedMs / 1000)) });
      return null;
    }
    const parsed = parseKeyFormat(presented);
    let record: ApiKeyRecord | null = null;
    // A key already verified against the cached record skips checksum and HMAC (see prepared-key.ts);
    // any other well-formed key must pass the checksum before the store is asked.
    const cached = parsed ? keys.peek?.(parsed.id) : undefined;
    if (cached && prepare(cached).verified.has(presented)) {
      record = cached;
    } else if (parsed && checksumMatches(presented)) {
      try {
        record = cached !== undefined ? cached : await keys.findKey(parsed.id);
      } catch (error) {
        reportError(error, req);
        deny(res, 'service_unavailable', 'API keys cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
        return null;
      }
    }
    const check = verifyPresented(record, record && prepare(record), presented, hasher, now());
    if (check.ok) return record;
    if (check.code === 'invalid_api_key') {
      const nowBlockedMs = await limits.invalidKeys.recordFailure(ip);
      if (nowBlockedMs > 0) {
        deny(res, 'rate_limited', GUESSING, { 'Retry-After': String(Math.ceil(nowBlockedMs / 1000)) });
        return null;
      }
    }
    deny(res, check.code, CREDENTIAL_MESSAGES[check.code]);
    return null;
  }

  /** Runs every check in order; answers and returns false at the first refusal. */
  async function authenticate(req: Request, res: Response): Promise<boolean> {
    const presented = presentedKey(req);
    if (!presented) {
      deny(res, 'missing_api_key', MISSING_KEY);
      return false;
    }
    const ip = clientAddress(getClientIp(req));
    const key = await identify(req, res, presented, ip);
    if (!key) return false;
    const info = prepare(key);

    if (!info.ipAllowed(ip)) {
      await refuseKnown(res, key, info, 'ip_not_allowed', `Requests from ${ip} are not allowed for this API key.`);
      return false;
    }
    const missing = missingScopes(key.scopes, requiredScopes(req));
    if (missing.length > 0) {
      const plural = missing.length > 1 ? 's' : '';
      await refuseKnown(res, key, info, 'insufficient_scope', `This API key lacks the scope${plural} ${missing.join(', ')}.`);
      return false;
    }
    if (info.models) {
      const model = getModel(req);
      if (model !== undefined && !info.models.has(model)) {
        await refuseKnown(res, key, info, 'model_not_allowed', `This API key may not use the model "${model}".`);
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
        await refuseKnown(res, key, info, 'chatbot_not_allowed', message);
        return false;
      }
    }

    const rate = await limits.rateWindows.consume(key.id, info.rateLimits);
    setRateHeaders(res, rate.windows, info.rateLimits);
    if (!rate.allowed) {
      const full = rate.windows.filter((w) => w.remaining === 0).map((w) => w.window);
      deny(res, 'rate_limited', `Rate limit reached (${full.join(', ')} window). Retry after ${rate.retryAfterSeconds} s.`, {
        'Retry-After': String(rate.retryAfterSeconds),
      });
      return false;
    }

    let quota: Reservation | null = null;
    if (key.usageLimit !== null) {
      const result = await limits.ledger.reserve({
        keyId: key.id,
        kind: 'quota',
        periodStart: 0,
        limit: key.usageLimit,
        amount: 1,
        baseline: quotaBaseline(key),
      });
      if (!result.ok) {
        deny(res, 'quota_exceeded', `This API key has used its quota of ${key.usageLimit.toLocaleString('en-US')} requests.`);
        return false;
      }
      quota = result.reservation;
    }

    let budget: Reservation | null = null;
    let periodStart: number | null = null;
    if (key.budget) {
      periodStart = budgetPeriodStart(key.budget.period, now());
      const cost = Math.max(0, Math.ceil(options.maxCost?.(req, key) ?? 0));
      if (cost > 0) {
        const result = await limits.ledger.reserve({
          keyId: key.id,
          kind: 'budget',
          periodStart,
          limit: key.budget.limitCents * 1_000_000,
          amount: cost,
          baseline: budgetBaseline(key),
        });
        if (!result.ok) {
          if (quota) limits.ledger.settle(quota, 0).catch((error) => reportError(error, req));
          deny(res, 'budget_exceeded', `This request could cost more than the API key's remaining ${key.budget.period} budget.`);
          return false;
        }
        budget = result.reservation;
      }
    }
    // The request passed every check: it counts against the quota whatever the handler answers.
    if (quota) limits.ledger.settle(quota, 1).catch((error) => reportError(error, req));

    attach(req, res, key, info, budget, periodStart);
    return true;
  }

  /** Sets `req.apiKey` and, when the response ends, settles the budget and records usage. */
  function attach(req: Request, res: Response, key: ApiKeyRecord, info: PreparedKey, budget: Reservation | null, periodStart: number | null) {
    const apiKey = new RequestKey(key, info.limits, budget?.amount ?? 0);
    req.apiKey = apiKey;
    if (budget) overdue.track(res, now() + timeoutMs);
    // 'close' comes after a finished response and after an aborted one alike.
    res.on('close', () => {
      if (budget) {
        overdue.forget(res);
        limits.ledger.settle(budget, apiKey.usage.costMicroCents).catch((error) => reportError(error, req));
      }
      usage?.record({
        keyId: key.id,
        tenantId: key.tenantId,
        ok: res.statusCode < 400,
        tokens: apiKey.usage.tokens,
        costMicroCents: apiKey.usage.costMicroCents,
        budgetPeriodStart: periodStart,
        at: now(),
      });
    });
  }

  return async function apiKeyAuthMiddleware(req: Request, res: Response, next: NextFunction): Promise<void> {
    let passed: boolean;
    try {
      passed = await authenticate(req, res);
    } catch (error) {
      // A limit store (Redis, a ceiling write) failed: refuse rather than guess.
      reportError(error, req);
      if (!res.headersSent) deny(res, 'limits_unavailable', 'Usage limits cannot be checked right now. Retry shortly.', { 'Retry-After': '1' });
      return;
    }
    if (passed) next();
  };
}
