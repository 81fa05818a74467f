import type { Request } from 'express';
import type { KeyHasher } from '../keys/key-hasher';
import type { LevelSource } from './claims';
import type { ApiKeyRecord } from '../keys/key-types';
import type { LimitBackend } from '../limits/limits';
import type { UsageRecorder } from '../usage/usage-types';
import type { KeyStore } from './key-store';
import type { SeparateRateLimit } from './meters';

/** Options of apiKeyAuth(). Only `keys` and `hasher` are required. */
export interface ApiKeyAuthOptions {
  /** Finds keys by public id (wrap it in cachedKeyStore() to keep lookups off the hot path). */
  keys: KeyStore;
  /** Verifies secrets against stored hashes (KEY_HASH_SECRET). */
  hasher: KeyHasher;
  /**
   * Rate windows, quota/budget ledger and invalid-key guard. Share one backend between all
   * middlewares of an app (createMemoryLimits(), or the Redis backend for several instances).
   * Default: a new in-memory backend for this middleware.
   */
  limits?: LimitBackend;
  /** Where finished requests' usage goes (buffered). Default: not recorded. */
  usage?: UsageRecorder;
  /** Scopes every request needs (all of them; `admin` implies all). A function may decide per request. */
  scopes?: readonly string[] | ((req: Request) => readonly string[]);
  /** The model a request asks for, checked against the key's allowed models. Default: `req.body.model`. */
  model?: (req: Request) => string | undefined;
  /** The chatbot a request speaks for, checked against the key's allowed chatbots. Default: the `X-Chatbot-Id` header. */
  chatbot?: (req: Request) => string | undefined;
  /**
   * Validates the request once the key and its scopes are known, before anything is counted. Throw
   * to refuse it: the error goes to your Express error handler (`next(error)`) and no rate window,
   * quota or budget is touched. Return normally to go on (you may keep what you parsed on `req`).
   */
  validate?: (req: Request, key: ApiKeyRecord) => void;
  /**
   * Count this guard's requests in a separate per-key window instead of the key's rate windows,
   * quota and budget, e.g. `{ name: 'management', perMinute: 600 }` for key-management calls that
   * must not spend the key's API allowance. Refusals are 429 `rate_limited` with the same headers.
   */
  rateLimit?: SeparateRateLimit;
  /** The most a request can cost, in micro-cents, reserved from the key's budget before the handler runs. Default: 0. */
  maxCost?: (req: Request, key: ApiKeyRecord) => number | undefined;
  /**
   * The most tokens a request can use (prompt bound plus completion), reserved from token windows
   * before the handler runs and corrected to what the handler reports. Default: 0 (no token windows).
   */
  maxTokens?: (req: Request, key: ApiKeyRecord) => number | undefined;
  /**
   * The levels above each key (its owner's and its tenant's limits). Admission reserves on every
   * level in one step; a refusal names the level in `error.level`. Default: the key alone.
   */
  levels?: LevelSource;
  /** The client's address. Default: `req.ip` (Express's `trust proxy` setting decides what that is). */
  clientIp?: (req: Request) => string | undefined;
  /** A request still running after this long is ended so its budget reservation is released. Default: 10 minutes. */
  requestTimeoutMs?: number;
  /** Called when the limit stores fail (the request gets 503 limits_unavailable). */
  onError?: (error: unknown, req: Request) => void;
  /** Current time in ms (tests). */
  now?: () => number;
}

function fail(message: string): never {
  throw new TypeError(`apiKeyAuth: ${message}`);
}

const isFunction = (value: unknown): value is (...args: never[]) => unknown => typeof value === 'function';

/** Checks options once, when the middleware is created, with messages that say how to fix them. */
export function validateOptions(options: ApiKeyAuthOptions): void {
  if (typeof options !== 'object' || options === null) fail('pass an options object: apiKeyAuth({ keys, hasher }).');
  if (!options.keys || !isFunction(options.keys.findKey)) {
    fail('`keys` must be a KeyStore with findKey(id), e.g. cachedKeyStore(yourStore).');
  }
  if (!options.hasher || !isFunction(options.hasher.matches)) {
    fail('`hasher` must be a KeyHasher, e.g. new KeyHasher({ 1: process.env.KEY_HASH_SECRET }).');
  }
  if (options.usage !== undefined && !isFunction(options.usage.record)) fail('`usage` must have record(event).');
  if (options.limits !== undefined && !(options.limits.rateWindows && options.limits.ledger && options.limits.invalidKeys)) {
    fail('`limits` must come from createMemoryLimits() or createRedisLimits().');
  }
  const scopes = options.scopes;
  if (scopes !== undefined && !isFunction(scopes)) {
    if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== 'string' || s === '')) {
      fail('`scopes` must be an array of scope names (e.g. ["api"]) or a function of the request.');
    }
  }
  const rateLimit = options.rateLimit;
  if (rateLimit !== undefined) {
    if (typeof rateLimit !== 'object' || rateLimit === null || typeof rateLimit.name !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(rateLimit.name)) {
      fail('`rateLimit.name` must be a short lower-case name such as "management".');
    }
    if (!(Number.isInteger(rateLimit.perMinute) && rateLimit.perMinute > 0)) fail('`rateLimit.perMinute` must be a positive whole number.');
  }
  if (options.levels !== undefined && !isFunction(options.levels?.levelsOf)) fail('`levels` must have levelsOf(key).');
  for (const name of ['model', 'chatbot', 'maxCost', 'maxTokens', 'clientIp', 'onError', 'now', 'validate'] as const) {
    if (options[name] !== undefined && !isFunction(options[name])) fail(`\`${name}\` must be a function.`);
  }
  const timeout = options.requestTimeoutMs;
  if (timeout !== undefined && !(Number.isInteger(timeout) && timeout > 0)) {
    fail('`requestTimeoutMs` must be a positive whole number of milliseconds.');
  }
}
