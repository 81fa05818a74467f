import type { ApiKeyRecord } from '../keys/key-types';
import { notSafeNumber, SAFE_LIMIT, SAFE_RANGE } from '../lib/safe-number';
import { type AuthenticatedKey, holdsScope, type ReportedUsage } from './authenticated-key';

const REPORTED_FIELDS = ['promptTokens', 'completionTokens', 'tokens', 'costMicroCents'] as const satisfies readonly (keyof ReportedUsage)[];

/** `req.apiKey`: one per guarded request (a class, so the per-request allocation stays small). */
export class RequestKey implements AuthenticatedKey {
  readonly id: string;
  readonly tenantId: string;
  readonly ownerId: string | null;
  readonly name: string;
  readonly scopes: readonly string[];
  readonly usage = { tokens: 0, costMicroCents: 0 };
  /** Created on first use: most handlers never ask for the signal. */
  private controller: AbortController | null = null;
  private gone = false;

  constructor(
    readonly record: ApiKeyRecord,
    readonly limits: AuthenticatedKey['limits'],
    readonly reservedMicroCents: number,
  ) {
    this.id = record.id;
    this.tenantId = record.tenantId;
    this.ownerId = record.ownerId;
    this.name = record.name;
    this.scopes = record.scopes;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.gone) this.controller.abort(clientGoneReason());
    }
    return this.controller.signal;
  }

  /** Called by the guard when the response closed before it was complete. */
  clientLeft(): void {
    this.gone = true;
    this.controller?.abort(clientGoneReason());
  }

  hasScope(scope: string): boolean {
    return holdsScope(this.scopes, scope);
  }

  reportUsage(usage: ReportedUsage): void {
    // Refused here, before anything of this call counts (see lib/safe-number.ts); none (null) is 0.
    for (const field of REPORTED_FIELDS) {
      const value = usage[field];
      const bad = value === undefined || value === null ? null : notSafeNumber(value);
      if (bad !== null) throw new TypeError(`reportUsage: ${field} must be ${SAFE_RANGE} (got ${bad}).`);
    }
    // Negative values correct earlier reports (an estimate replaced by the provider's count).
    const tokens = Math.max(0, this.usage.tokens + (usage.tokens ?? 0) + (usage.promptTokens ?? 0) + (usage.completionTokens ?? 0));
    const costMicroCents = Math.max(0, this.usage.costMicroCents + Math.ceil(usage.costMicroCents ?? 0));
    if (tokens > SAFE_LIMIT || costMicroCents > SAFE_LIMIT) {
      const field = tokens > SAFE_LIMIT ? 'tokens' : 'costMicroCents';
      throw new RangeError(`reportUsage: the request's ${field} would pass ${SAFE_LIMIT}; this report is not counted.`);
    }
    this.usage.tokens = tokens;
    this.usage.costMicroCents = costMicroCents;
  }
}

function clientGoneReason(): Error {
  const error = new Error('The client closed the connection before the response was complete.');
  error.name = 'AbortError';
  return error;
}
