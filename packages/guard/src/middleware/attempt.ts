import type { Request, Response } from 'express';
import { notSafeNumber, SAFE_RANGE } from '../lib/safe-number';
import { presentedKey } from './credentials';
import type { ApiKeyRecord } from '../keys/key-types';
import type { RequestFacts } from '../usage/usage-types';

const MAX_USER_AGENT = 256;
/** Longest model, chatbot and request id kept (they come from the client). */
const MAX_NAME = 200;
const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** What may need cleaning: a NUL or any surrogate (most text has neither and is kept as is). */
const MAY_NEED_CLEANING = /[\u0000\uD800-\uDFFF]/;
const MAX_LATENCY_MS = 2_147_483_647;

/**
 * Client-supplied text as every store keeps it: NUL characters removed and unpaired surrogates
 * replaced (PostgreSQL refuses both; one such row would fail every usage batch it is in), at most
 * `max` characters.
 */
function storable(text: string | undefined, max: number): string | null {
  if (text === undefined) return null;
  const clipped = text.length > max ? text.slice(0, max) : text;
  if (!MAY_NEED_CLEANING.test(clipped)) return clipped;
  return clipped.replace(/\u0000/g, '').replace(UNPAIRED_SURROGATE, '\uFFFD');
}

/** Where the checks put headers (rate limits): an Express response, or the verify API's answer. */
export interface HeaderSink {
  setHeader(name: string, value: string): unknown;
  getHeader(name: string): unknown;
}

/**
 * One request as the guard's checks see it: an HTTP request to a guarded route (HttpAttempt), or
 * one described to the verify API. The checks read what they need through it, in their order, and
 * set the key once it is identified; what a usage recorder is told comes from facts() (never the
 * key or a body).
 */
export interface GuardAttempt {
  /** The HTTP request that carried it (the verify call, for a described request): for onError. */
  readonly req: Request;
  readonly ip: string;
  readonly startedAt: number;
  key: ApiKeyRecord | null;
  /** Set: only keys of this tenant are found; any other reads as an unknown key (the verify API). */
  readonly tenantId?: string;
  readonly headers: HeaderSink;
  presented(): string | null;
  requiredScopes(): readonly string[];
  model(): string | undefined;
  chatbot(): string | undefined;
  /** Throws to refuse a malformed request, before anything is counted. */
  validate(key: ApiKeyRecord): void;
  /** The most the request may cost (micro-cents) and the most tokens it may use. */
  bounds(key: ApiKeyRecord): { costMicroCents: number; tokens: number };
  /** The facts of this request of `key`, ended at `at` with `status`: a new object each call (the guard completes it in place). */
  facts(key: ApiKeyRecord, at: number, status: number): RequestFacts;
}

/** The facts of a request, made storable (see storable()). */
export function requestFacts(
  key: ApiKeyRecord,
  request: { ip: string; startedAt: number; model?: string; chatbot?: string; requestId?: unknown; userAgent?: unknown },
  at: number,
  status: number,
): RequestFacts {
  return {
    keyId: key.id,
    tenantId: key.tenantId,
    at,
    status,
    ip: request.ip,
    model: storable(request.model, MAX_NAME),
    chatbot: storable(request.chatbot, MAX_NAME),
    // A 32-bit column in the request log (a request longer than 24 days would not fit).
    latencyMs: Math.min(Math.max(0, at - request.startedAt), MAX_LATENCY_MS),
    requestId: typeof request.requestId === 'string' ? storable(request.requestId, MAX_NAME) : null,
    userAgent: typeof request.userAgent === 'string' ? storable(request.userAgent, MAX_USER_AGENT) : null,
  };
}

/**
 * What a maxCost or maxTokens hook answered, as a whole non-negative number (none: 0). A NaN or
 * an infinity throws, as does a number past ±2^53 (the check fails, nothing is counted; see
 * lib/safe-number.ts).
 */
function bound(option: 'maxCost' | 'maxTokens', value: number | undefined | null): number {
  if (value === undefined || value === null) return 0;
  const bad = notSafeNumber(value);
  if (bad !== null) throw new TypeError(`apiKeyAuth: the ${option} option must return ${SAFE_RANGE} or undefined (got ${bad}).`);
  return Math.max(0, Math.ceil(value));
}

/** What an HTTP guard takes from its options to read a request. */
export interface HttpAttemptHooks {
  model(req: Request): string | undefined;
  chatbot(req: Request): string | undefined;
  scopes(req: Request): readonly string[];
  validate?(req: Request, key: ApiKeyRecord): void;
  maxCost?(req: Request, key: ApiKeyRecord): number | undefined;
  maxTokens?(req: Request, key: ApiKeyRecord): number | undefined;
}

/** A request to a guarded route. The model and chatbot are read only when something needs them. */
export class HttpAttempt implements GuardAttempt {
  key: ApiKeyRecord | null = null;

  constructor(
    readonly req: Request,
    readonly res: Response,
    readonly ip: string,
    readonly startedAt: number,
    private readonly hooks: HttpAttemptHooks,
  ) {}

  get headers(): HeaderSink {
    return this.res;
  }

  presented(): string | null {
    return presentedKey(this.req);
  }

  requiredScopes(): readonly string[] {
    return this.hooks.scopes(this.req);
  }

  model(): string | undefined {
    return this.hooks.model(this.req);
  }

  chatbot(): string | undefined {
    return this.hooks.chatbot(this.req);
  }

  validate(key: ApiKeyRecord): void {
    this.hooks.validate?.(this.req, key);
  }

  bounds(key: ApiKeyRecord): { costMicroCents: number; tokens: number } {
    return {
      costMicroCents: bound('maxCost', this.hooks.maxCost?.(this.req, key)),
      tokens: bound('maxTokens', this.hooks.maxTokens?.(this.req, key)),
    };
  }

  facts(key: ApiKeyRecord, at: number, status: number): RequestFacts {
    const req = this.req;
    return requestFacts(
      key,
      { ip: this.ip, startedAt: this.startedAt, model: this.model(), chatbot: this.chatbot(), requestId: (req as { id?: unknown }).id, userAgent: req.headers['user-agent'] },
      at,
      status,
    );
  }
}
