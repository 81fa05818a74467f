import type { ApiKeyRecord, Budget, RateLimits } from '../keys/key-types';

/** Usage a handler reports for its request; calls add up. */
export interface ReportedUsage {
  promptTokens?: number;
  completionTokens?: number;
  /** Total tokens when not split into prompt and completion. */
  tokens?: number;
  /** Cost in micro-cents (1e-6 cent). */
  costMicroCents?: number;
}

/** The key a request was authenticated with, as `req.apiKey`. */
export interface AuthenticatedKey {
  readonly id: string;
  readonly tenantId: string;
  readonly ownerId: string | null;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly limits: {
    readonly rateLimits: RateLimits;
    readonly usageLimit: number | null;
    readonly budget: Budget | null;
    readonly allowedModels: readonly string[];
    readonly allowedIps: readonly string[];
  };
  /** The stored key (without secrets leaving the server: handlers must not return it as is). */
  readonly record: ApiKeyRecord;
  /** The most this request was allowed to cost (micro-cents), reserved from the budget. */
  readonly reservedMicroCents: number;
  /** True when the key holds `scope` (or `admin`). */
  hasScope(scope: string): boolean;
  /**
   * Aborted when the client leaves before the response is complete (or the response is ended by
   * `requestTimeoutMs`): pass it to upstream calls (`fetch(url, { signal })`) so they stop too.
   */
  readonly signal: AbortSignal;
  /**
   * Records tokens and cost of this request (calls add up; negative values correct an earlier
   * estimate). Settled against the budget when the response ends, even if the client left early.
   * If the client leaves before the response is complete and nothing was reported, the whole
   * reservation is charged (the cost is unknown): report usage as it happens to pay only for it.
   */
  reportUsage(usage: ReportedUsage): void;
  /** What has been reported so far. */
  readonly usage: Readonly<{ tokens: number; costMicroCents: number }>;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by apiKeyAuth() on requests it let through. */
    apiKey?: AuthenticatedKey;
  }
}

export { holdsScope } from '../keys/scopes';
