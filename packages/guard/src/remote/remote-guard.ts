/**
 * createRemoteGuard(): the API-key middleware for services that do not hold Keyward's keys. Each
 * request's key (read exactly as the local guard reads it) is checked by Keyward's verify API,
 * which runs the local guard's checks on Keyward's own counters, so usage, limits and the request
 * log stay in one place; refusals are answered with the local guard's statuses, bodies and headers.
 *
 * The cache rule: an answer is reused only where reusing it counts nothing that Keyward would have
 * counted, and only while the change feed is connected (a revocation then drops it within moments;
 * with the feed down every request is verified, so a revocation is never missed):
 * - valid answers of keys without quota or budget, for requests that reserve no cost or tokens, and
 *   without request windows: every Keyward key has its tier's windows, so such answers are reused
 *   only with `cacheWithinRateWindows: true` (requests served from the cache are then not counted
 *   in the key's windows or usage);
 * - refusals of an identified key that no counter decides (revoked, inactive, expired, address,
 *   scope, model or chatbot not allowed).
 * Nothing else is cached: rate-limited, over-quota and over-budget answers, unknown keys.
 */
import type { NextFunction, Request, Response } from 'express';
import { normalizeIpEntry } from '../lib/ip';
import { clientAddress, presentedKey, requestedChatbot, requestedModel } from '../middleware/credentials';
import { type DenialCode, DENIALS, deny } from '../middleware/deny';
import type { RequestKey } from '../middleware/request-key';
import { OverdueResponses } from '../middleware/overdue-responses';
import { clientLeft, whenClosed } from '../middleware/response-end';
import { KeyFeedClient } from './key-feed-client';
import { remoteKey, setRateLimitHeaders } from './remote-key';
import { type CacheTicket, type DescribedRequest, VerdictCache } from './verdict-cache';
import { DescribedRequestInvalid, type VerifyAnswer, type VerifyCall, VerifyClient, KeywardUnavailable } from './verify-answer';

/** Options of createRemoteGuard(). Only `url` and `credential` are required. */
export interface RemoteGuardOptions {
  /** Keyward's base URL, e.g. `https://keys.example.com` (verify: POST {url}/api/v1/keys/verify). */
  url: string;
  /** A Keyward key of your tenant with scope `keys:verify` (only keys of its tenant are found). */
  credential: string;
  /** Where the change feed is read, when not at `url` (e.g. through another proxy). Default: `url`. */
  feedUrl?: string;
  /** false: no change feed, so nothing is ever cached (every request is verified). Default: true. */
  feed?: boolean;
  /** Scopes every request needs (all of them; `admin` implies all). A function may decide per request. */
  scopes?: readonly string[] | ((req: Request) => readonly string[]);
  /** The model a request asks for. Default: `req.body.model`. */
  model?: (req: Request) => string | undefined;
  /** The chatbot a request speaks for. Default: the `X-Chatbot-Id` header. */
  chatbot?: (req: Request) => string | undefined;
  /** The most a request can cost (micro-cents), reserved in Keyward and settled when the response ends. */
  maxCost?: (req: Request) => number | undefined;
  /** The most tokens a request can use, reserved in Keyward and settled to what the handler reports. */
  maxTokens?: (req: Request) => number | undefined;
  /** The client's address. Default: `req.ip` (Express's `trust proxy` setting decides what that is). */
  clientIp?: (req: Request) => string | undefined;
  /** How long a cached answer may be reused at most. 0: no cache. Default: 5000. */
  cacheTtlMs?: number;
  /** Most answers cached at once (oldest dropped first). Default: 10000. */
  cacheMaxEntries?: number;
  /**
   * Also reuse valid answers of keys whose only limits are request windows (every Keyward key has
   * its tier's). Requests served from the cache are then not counted in Keyward: not in the key's
   * windows, its usage, nor its owner's or tenant's windows. Default: false.
   */
  cacheWithinRateWindows?: boolean;
  /** Timeout of each verify and settle call. Default: 2000. */
  timeoutMs?: number;
  /**
   * A response holding a reservation (cost or tokens) still running after this long is ended, and
   * its reservation settled: to what the handler reported, or in full when it reported nothing.
   * Default: 600000 (10 minutes, after which Keyward would charge the reservation in full itself).
   */
  requestTimeoutMs?: number;
  /** Heartbeat interval asked of the feed (1 s to 60 s); silence for twice that plus 1 s counts as down. Default: 5000. */
  heartbeatMs?: number;
  /** Reconnection backoff of the feed: first delay and most (doubling, with jitter). Default: 250 and 30000. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** Told of every failure: Keyward unreachable or refusing the credential, a lost feed, a failed settlement. */
  onError?: (error: unknown, req?: Request) => void;
  /** Current time in ms (tests). */
  now?: () => number;
}

/** A request described to check(). */
export interface RemoteCheckRequest {
  key: string;
  ip?: string;
  scopes?: readonly string[];
  model?: string;
  chatbot?: string;
  costMicroCents?: number;
  tokens?: number;
}

/** check()'s answer: Keyward's, and whether it came from the cache. */
export type RemoteVerdict = VerifyAnswer & { cached: boolean };

/** What the guard did so far. */
export interface RemoteGuardStats {
  feed: 'connected' | 'disconnected' | 'closed';
  /** Verify calls made (each one counted in Keyward). */
  verifyCalls: number;
  /** Requests answered from the cache. */
  cacheHits: number;
  /** Answers cached now. */
  cached: number;
}

/** The middleware, with its checks, its state and close(). */
export interface RemoteGuard {
  (req: Request, res: Response, next: NextFunction): Promise<void>;
  /**
   * Checks a described request (counted in Keyward like a guarded one). When the answer carries a
   * `reservationId`, settle it with settle() once the request's real use is known.
   */
  check(request: RemoteCheckRequest): Promise<RemoteVerdict>;
  /** Settles a reservation of check(). */
  settle(reservationId: string, used: { costMicroCents: number; tokens?: number }): Promise<void>;
  /** Resolves true once the change feed is connected, false after `timeoutMs` without it. */
  feedReady(timeoutMs?: number): Promise<boolean>;
  stats(): RemoteGuardStats;
  /** Closes the change feed and drops the cache; further requests are still verified remotely. */
  close(): void;
}

const MISSING_KEY = 'No API key: send it as "Authorization: Bearer <key>" or in the X-API-Key header.';
const UNAVAILABLE = 'API keys cannot be checked right now. Retry shortly.';

/** Refusals that no counter decides, for an identified key: reusable until the key changes. */
const STABLE_REFUSALS = new Set(['key_revoked', 'key_inactive', 'key_expired', 'ip_not_allowed', 'insufficient_scope', 'model_not_allowed', 'chatbot_not_allowed']);

function fail(message: string): never {
  throw new TypeError(`createRemoteGuard: ${message}`);
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';
const isWhole = (value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number =>
  Number.isInteger(value) && (value as number) >= min && (value as number) <= max;

function validUrl(value: unknown, name: string): string {
  if (typeof value !== 'string') fail(`\`${name}\` must be Keyward's base URL, e.g. "https://keys.example.com".`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(`\`${name}\` must be an absolute URL such as "https://keys.example.com" (got "${value}").`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`\`${name}\` must be an http: or https: URL.`);
  return url.toString();
}

/** Checks options once, when the guard is created, with messages that say how to fix them. */
function validateOptions(options: RemoteGuardOptions): void {
  if (typeof options !== 'object' || options === null) fail('pass an options object: createRemoteGuard({ url, credential }).');
  validUrl(options.url, 'url');
  if (options.feedUrl !== undefined) validUrl(options.feedUrl, 'feedUrl');
  if (typeof options.credential !== 'string' || options.credential.trim() === '') {
    fail('`credential` must be a Keyward key with scope keys:verify (e.g. process.env.KEYWARD_VERIFY_KEY).');
  }
  const scopes = options.scopes;
  if (scopes !== undefined && !isFunction(scopes) && (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || s === ''))) {
    fail('`scopes` must be an array of scope names (e.g. ["api"]) or a function of the request.');
  }
  for (const name of ['model', 'chatbot', 'maxCost', 'maxTokens', 'clientIp', 'onError', 'now'] as const) {
    if (options[name] !== undefined && !isFunction(options[name])) fail(`\`${name}\` must be a function.`);
  }
  if (options.cacheTtlMs !== undefined && !isWhole(options.cacheTtlMs, 0, 300_000)) fail('`cacheTtlMs` must be whole milliseconds from 0 (no cache) to 300000.');
  if (options.cacheMaxEntries !== undefined && !isWhole(options.cacheMaxEntries, 1)) fail('`cacheMaxEntries` must be a positive whole number.');
  if (options.timeoutMs !== undefined && !isWhole(options.timeoutMs, 1)) fail('`timeoutMs` must be a positive whole number of milliseconds.');
  if (options.requestTimeoutMs !== undefined && !isWhole(options.requestTimeoutMs, 1)) {
    fail('`requestTimeoutMs` must be a positive whole number of milliseconds.');
  }
  if (options.heartbeatMs !== undefined && !(isWhole(options.heartbeatMs, 1000, 60_000) && options.heartbeatMs % 1000 === 0)) {
    fail('`heartbeatMs` must be whole seconds from 1000 to 60000.');
  }
  const reconnect = options.reconnect ?? {};
  if (reconnect.initialDelayMs !== undefined && !isWhole(reconnect.initialDelayMs, 1)) fail('`reconnect.initialDelayMs` must be a positive whole number.');
  if (reconnect.maxDelayMs !== undefined && !isWhole(reconnect.maxDelayMs, 1)) fail('`reconnect.maxDelayMs` must be a positive whole number.');
  for (const name of ['feed', 'cacheWithinRateWindows'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'boolean') fail(`\`${name}\` must be true or false.`);
  }
}

const amount = (value: number | undefined): number => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.ceil(value) : 0);

/** Creates the remote guard and connects its change feed. Options are checked now (TypeError on a mistake). */
export function createRemoteGuard(options: RemoteGuardOptions): RemoteGuard {
  validateOptions(options);
  const now = options.now ?? Date.now;
  const ttlMs = options.cacheTtlMs ?? 5000;
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const getModel = options.model ?? requestedModel;
  const getChatbot = options.chatbot ?? requestedChatbot;
  const getClientIp = options.clientIp ?? ((req: Request) => req.ip);
  const scopesOption = options.scopes ?? [];
  const requiredScopes = typeof scopesOption === 'function' ? scopesOption : () => scopesOption;
  const reportError = (error: unknown, req?: Request) => options.onError?.(error, req);
  const client = new VerifyClient({ url: options.url, credential: options.credential, timeoutMs: options.timeoutMs ?? 2000 });
  const cache = new VerdictCache(options.cacheMaxEntries ?? 10_000, now);
  const requestTimeoutMs = options.requestTimeoutMs ?? 600_000;
  const overdue = new OverdueResponses(now);
  const counts = { verifyCalls: 0, cacheHits: 0 };
  let closed = false;
  let waiters: ((up: boolean) => void)[] = [];

  const feed =
    options.feed === false || ttlMs === 0
      ? null
      : new KeyFeedClient(
          {
            url: options.feedUrl ?? options.url,
            credential: options.credential,
            heartbeatMs,
            staleMs: 2 * heartbeatMs + 1000,
            initialDelayMs: options.reconnect?.initialDelayMs ?? 250,
            maxDelayMs: options.reconnect?.maxDelayMs ?? 30_000,
            onError: (error) => reportError(error),
          },
          {
            // Whatever was cached before (re)connecting may have missed changes: start empty.
            up: () => {
              cache.clear();
              for (const resolve of waiters.splice(0)) resolve(true);
            },
            changed: (keyId) => cache.evictKey(keyId),
            reset: () => cache.clear(),
            down: () => cache.clear(),
          },
        );
  feed?.start();

  const cacheUsable = () => feed !== null && feed.connected;

  /** How long an answer may be reused; 0 when it must not be. */
  function reuseMs(answer: VerifyAnswer, call: VerifyCall): number {
    if (!answer.key) return 0;
    if (!answer.valid) return STABLE_REFUSALS.has(answer.code) ? ttlMs : 0;
    if (answer.reservationId !== undefined || call.costMicroCents > 0 || call.tokens > 0) return 0;
    if (answer.quota !== null || answer.budget !== null) return 0;
    if (answer.rateLimits.length > 0 && options.cacheWithinRateWindows !== true) return 0;
    // Never past the key's expiry: it would then be refused.
    const expiresAt = answer.key.expiresAt === null ? Infinity : Date.parse(answer.key.expiresAt);
    return Math.max(0, Math.min(ttlMs, expiresAt - now()));
  }

  async function decide(call: VerifyCall): Promise<RemoteVerdict> {
    const described: DescribedRequest = { key: call.key, ip: call.ip, scopes: call.scopes, model: call.model, chatbot: call.chatbot };
    const reserves = call.costMicroCents > 0 || call.tokens > 0;
    let fingerprint: string | null = null;
    let ticket: CacheTicket | null = null;
    if (cacheUsable() && !reserves) {
      fingerprint = cache.fingerprint(described);
      const hit = cache.get(fingerprint);
      if (hit) {
        counts.cacheHits++;
        return { ...hit, cached: true };
      }
      ticket = cache.ticket();
    }
    counts.verifyCalls++;
    const answer = await client.verify(call);
    // Stored only if the feed stayed up and nothing about the key changed during the call.
    if (fingerprint !== null && ticket !== null && cacheUsable()) {
      const ms = reuseMs(answer, call);
      if (ms > 0) cache.set(fingerprint, answer as VerifyAnswer & { key: { id: string } }, ms, ticket);
    }
    return { ...answer, cached: false };
  }

  function callOf(request: RemoteCheckRequest): VerifyCall {
    const ip = request.ip === undefined ? undefined : clientAddress(request.ip);
    return {
      key: request.key,
      // An address Keyward would reject as input (none known) is left out: Keyward then uses the caller's.
      ip: ip !== undefined && normalizeIpEntry(ip) !== null ? ip : undefined,
      scopes: request.scopes ?? [],
      model: request.model,
      chatbot: request.chatbot,
      costMicroCents: amount(request.costMicroCents),
      tokens: amount(request.tokens),
    };
  }

  /** Answers a refusal as the local guard would (status, error body, Retry-After, x-should-retry). */
  function refuse(res: Response, answer: VerifyAnswer): void {
    if (!(answer.code in DENIALS)) {
      // A code this version does not know (a newer Keyward): refuse, and say so to the operator.
      reportError(new KeywardUnavailable(`Keyward refused with an unknown code "${answer.code}"`));
      deny(res, 'service_unavailable', UNAVAILABLE, { 'Retry-After': '1' });
      return;
    }
    const headers = typeof answer.retryAfter === 'number' ? { 'Retry-After': String(answer.retryAfter) } : undefined;
    setRateLimitHeaders(res, answer.rateLimits);
    deny(res, answer.code as DenialCode, answer.message ?? answer.code, headers, answer.level ?? undefined);
  }

  /**
   * Settles a reservation when the response closes: to what was reported, or all of it if unknown.
   * A response still running after requestTimeoutMs is ended (and so settled).
   */
  function settleOnClose(res: Response, reservationId: string, call: VerifyCall, apiKey: RequestKey | null, req: Request): void {
    const tracked = overdue.track(res, now() + requestTimeoutMs);
    whenClosed(res, () => {
      overdue.forget(tracked);
      const left = clientLeft(res);
      if (left) apiKey?.clientLeft();
      const reported = apiKey?.usage ?? { tokens: 0, costMicroCents: 0 };
      // A client that left while the handler ran, with nothing reported: the cost is unknown.
      const chargeUnknown = left && apiKey !== null;
      const used = {
        costMicroCents: chargeUnknown && reported.costMicroCents === 0 ? call.costMicroCents : reported.costMicroCents,
        tokens: chargeUnknown && reported.tokens === 0 ? call.tokens : reported.tokens,
      };
      client.settle(reservationId, used).catch((error) => reportError(error, req));
    });
  }

  async function remoteKeyAuthMiddleware(req: Request, res: Response, next: NextFunction): Promise<void> {
    const presented = presentedKey(req);
    if (!presented) {
      deny(res, 'missing_api_key', MISSING_KEY);
      return;
    }
    const call = callOf({
      key: presented,
      ip: getClientIp(req),
      scopes: requiredScopes(req),
      model: getModel(req),
      chatbot: getChatbot(req),
      costMicroCents: options.maxCost?.(req),
      tokens: options.maxTokens?.(req),
    });
    let verdict: RemoteVerdict;
    try {
      verdict = await decide(call);
    } catch (error) {
      if (res.headersSent) return;
      if (error instanceof DescribedRequestInvalid) {
        res.status(400).json({ error: { code: 'invalid_request', message: error.message, type: 'invalid_request_error' } });
        return;
      }
      // Fail closed: without Keyward's verdict nothing is let through.
      reportError(error, req);
      const retryAfter = error instanceof KeywardUnavailable && error.retryAfterSeconds !== null ? error.retryAfterSeconds : 1;
      deny(res, 'service_unavailable', UNAVAILABLE, { 'Retry-After': String(retryAfter) });
      return;
    }
    if (!verdict.valid) {
      refuse(res, verdict);
      return;
    }
    const reservationId = verdict.reservationId;
    if (clientLeft(res)) {
      // The client left while Keyward was asked: the handler does not run, nothing is charged.
      if (reservationId) settleOnClose(res, reservationId, call, null, req);
      return;
    }
    if (!verdict.cached) setRateLimitHeaders(res, verdict.rateLimits);
    const apiKey = remoteKey(verdict, call.costMicroCents);
    req.apiKey = apiKey;
    if (reservationId) settleOnClose(res, reservationId, call, apiKey, req);
    next();
  }

  return Object.assign(remoteKeyAuthMiddleware, {
    check: (request: RemoteCheckRequest) => decide(callOf(request)),
    settle: (reservationId: string, used: { costMicroCents: number; tokens?: number }) =>
      client.settle(reservationId, { costMicroCents: used.costMicroCents, tokens: used.tokens ?? 0 }),
    feedReady(timeoutMs = 5000): Promise<boolean> {
      if (feed?.connected) return Promise.resolve(true);
      if (!feed || closed) return Promise.resolve(false);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== settle);
          resolve(false);
        }, timeoutMs);
        timer.unref();
        const settle = (up: boolean) => {
          clearTimeout(timer);
          resolve(up);
        };
        waiters.push(settle);
      });
    },
    stats: (): RemoteGuardStats => ({
      feed: closed ? 'closed' : feed?.connected ? 'connected' : 'disconnected',
      verifyCalls: counts.verifyCalls,
      cacheHits: counts.cacheHits,
      cached: cache.size,
    }),
    close(): void {
      closed = true;
      feed?.close();
      cache.clear();
      for (const resolve of waiters.splice(0)) resolve(false);
    },
  });
}
