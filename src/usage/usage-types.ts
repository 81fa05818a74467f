/** One finished request of a key, as the middleware reports it. */
export interface UsageEvent {
  keyId: string;
  tenantId: string;
  /** 2xx/3xx from the handler: ok; 4xx/5xx: failed. */
  ok: boolean;
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
