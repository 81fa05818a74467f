/** One finished request of a key, as the middleware reports it. */
export interface UsageEvent {
  keyId: string;
  tenantId: string;
  /** 2xx/3xx from the handler: ok; 4xx/5xx, or a client that left before the response was complete: failed. */
  ok: boolean;
  /** `ok`; `failed` (the handler answered 4xx/5xx); `client_closed` (the response could not be completed). */
  outcome: 'ok' | 'failed' | 'client_closed';
  tokens: number;
  costMicroCents: number;
  /** Start of the key's budget period the cost belongs to (ms), or null without a budget. */
  budgetPeriodStart: number | null;
  /** When the request finished (ms). */
  at: number;
}

/** Receives usage; must not slow the request down (buffer, then write in batches). */
export interface UsageRecorder {
  record(event: UsageEvent): void;
}
