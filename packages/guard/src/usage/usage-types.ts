/**
 * What the guard tells a usage recorder about each request. Admitted requests (`record`) count in
 * the key's usage, quota and spend; refusals of an identified key (`refused`) and attempts that
 * identify no key (`unknownKey`) are counted apart, for visibility only.
 */

/** Why the guard refused a request of an identified key: the denial codes of the /api contract. */
export const REFUSAL_OUTCOMES = [
  'invalid_api_key',
  'key_revoked',
  'key_inactive',
  'key_expired',
  'ip_not_allowed',
  'insufficient_scope',
  'model_not_allowed',
  'chatbot_not_allowed',
  'invalid_request',
  'rate_limited',
  'quota_exceeded',
  'budget_exceeded',
  'limits_unavailable',
] as const;
export type RefusalOutcome = (typeof REFUSAL_OUTCOMES)[number];

/** How an admitted request ended: handler answered 2xx/3xx, 4xx/5xx, or the response could not be completed. */
export const ADMITTED_OUTCOMES = ['ok', 'failed', 'client_closed'] as const;
export type AdmittedOutcome = (typeof ADMITTED_OUTCOMES)[number];

/** Every outcome a request of an identified key can have. */
export const REQUEST_OUTCOMES = [...ADMITTED_OUTCOMES, ...REFUSAL_OUTCOMES] as const;
export type RequestOutcome = AdmittedOutcome | RefusalOutcome;

/** What is known of every request of an identified key, admitted or refused (never the key or a body). */
export interface RequestFacts {
  keyId: string;
  tenantId: string;
  /** When the request ended (ms). */
  at: number;
  /** The HTTP status answered (0 when the client left before any answer). */
  status: number;
  /** The client address the guard used (IPv4-mapped IPv6 written as IPv4). */
  ip: string;
  model: string | null;
  chatbot: string | null;
  /** From the guard's start to the end of the response (ms). */
  latencyMs: number;
  /** The request id (X-Request-Id) when the app sets `req.id`. */
  requestId: string | null;
  /** The User-Agent header, at most 256 characters. */
  userAgent: string | null;
}

/** One admitted request of a key, settled when its response closed. */
export interface UsageEvent extends RequestFacts {
  /** 2xx/3xx from the handler: ok; 4xx/5xx, or a client that left before the response was complete: failed. */
  ok: boolean;
  outcome: AdmittedOutcome;
  tokens: number;
  costMicroCents: number;
  /** Start of the key's budget period the cost belongs to (ms), or null without a budget. */
  budgetPeriodStart: number | null;
}

/** A request of an identified key that the guard refused (not counted in the key's usage or quota). */
export interface RefusalEvent extends RequestFacts {
  outcome: RefusalOutcome;
}

/**
 * A request whose key identifies no key (malformed, bad checksum, unknown id), or from an address
 * blocked for guessing (`blocked`, whatever key it presented).
 */
export interface UnknownKeyAttempt {
  ip: string;
  at: number;
  blocked: boolean;
}

/** Receives usage; must not slow the request down (buffer, then write in batches). */
export interface UsageRecorder {
  record(event: UsageEvent): void;
  /** Optional: refusals of identified keys. */
  refused?(event: RefusalEvent): void;
  /** Optional: attempts that identify no key. */
  unknownKey?(attempt: UnknownKeyAttempt): void;
}
