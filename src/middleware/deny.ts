import type { Response } from 'express';
import type { ErrorType } from '../errors';
import type { LimitLevel } from '../governance/level-types';

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

/** Answers a refused request with the /api error body (the shape the openai SDK reads). */
export function deny(res: Response, code: DenialCode, message: string, headers?: Record<string, string>, level?: LimitLevel): void {
  const { status, type } = DENIALS[code];
  if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // `level` names where a limit refused (key, owner or tenant): on rate, quota and budget refusals.
  res.status(status).json({ error: level ? { code, message, type, level } : { code, message, type } });
}
