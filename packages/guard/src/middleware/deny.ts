import type { Response } from 'express';
import type { LimitLevel } from '../governance/level-types';

/** The `error.type` of an /api error body (OpenAI's error shape). */
export type ErrorType =
  | 'authentication_error'
  | 'permission_error'
  | 'rate_limit_error'
  | 'budget_error'
  | 'invalid_request_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'server_error';

/** Every refusal the middleware answers, with its status and error type. */
export const DENIALS = {
  missing_api_key: { status: 401, type: 'authentication_error' },
  invalid_api_key: { status: 401, type: 'authentication_error' },
  key_revoked: { status: 401, type: 'authentication_error' },
  key_inactive: { status: 401, type: 'authentication_error' },
  key_expired: { status: 401, type: 'authentication_error' },
  ip_not_allowed: { status: 403, type: 'permission_error' },
  insufficient_scope: { status: 403, type: 'permission_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  chatbot_not_allowed: { status: 403, type: 'permission_error' },
  rate_limited: { status: 429, type: 'rate_limit_error' },
  quota_exceeded: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 402, type: 'budget_error' },
  limits_unavailable: { status: 503, type: 'server_error' },
  service_unavailable: { status: 503, type: 'server_error' },
} as const satisfies Record<string, { status: number; type: ErrorType }>;

export type DenialCode = keyof typeof DENIALS;

/** Waits up to this long are worth a client's automatic retry (the openai SDK sleeps Retry-After). */
export const SHORT_WAIT_SECONDS = 60;

/**
 * Whether an automatic retry can succeed soon, for the `x-should-retry` header that the openai SDK
 * (and other Stainless-generated SDKs) obeys before its own rules: never for a bad, unauthorised
 * or over-budget key or a used-up quota; for a 429 only when its Retry-After is at most 60 s (a
 * client would otherwise sleep for an hour, or hammer a window that stays full); always for a 503.
 */
export function shouldRetry(code: DenialCode, retryAfterSeconds: number | null): boolean {
  const { status } = DENIALS[code];
  if (status === 503) return true;
  if (code !== 'rate_limited') return false;
  return retryAfterSeconds !== null && retryAfterSeconds <= SHORT_WAIT_SECONDS;
}

/**
 * Answers a refused request with the /api error body (the shape the openai SDK reads), and
 * `x-should-retry`. A long Retry-After (a daily quota, a full day window) is kept: it is the truth
 * for clients that schedule their own retries, and `x-should-retry: false` stops SDKs from sleeping on it.
 */
export function deny(res: Response, code: DenialCode, message: string, headers?: Record<string, string>, level?: LimitLevel): void {
  const { status, type } = DENIALS[code];
  if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  const retryAfter = headers?.['Retry-After'] === undefined ? null : Number(headers['Retry-After']);
  res.setHeader('x-should-retry', String(shouldRetry(code, retryAfter)));
  // `level` names where a limit refused (key, owner or tenant): on rate, quota and budget refusals.
  res.status(status).json({ error: level ? { code, message, type, level } : { code, message, type } });
}
