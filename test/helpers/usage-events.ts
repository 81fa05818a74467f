/** Usage events as the guard reports them, for tests that feed a recorder directly. */
import type { RefusalEvent, RefusalOutcome, RequestFacts, UsageEvent } from '../../packages/guard/src/usage/usage-types';

function facts(overrides: Partial<RequestFacts>): RequestFacts {
  return {
    keyId: 'k1',
    tenantId: 't1',
    at: Date.now(),
    status: 200,
    ip: '203.0.113.7',
    model: 'local-small',
    chatbot: null,
    latencyMs: 3,
    requestId: null,
    userAgent: 'test',
    ...overrides,
  };
}

/** An admitted request: ok unless `ok: false` (then failed, status 500) or another outcome is given. */
export function buildUsageEvent(overrides: Partial<UsageEvent> = {}): UsageEvent {
  const ok = overrides.ok ?? (overrides.outcome === undefined || overrides.outcome === 'ok');
  return {
    ...facts({ status: ok ? 200 : 500, ...overrides }),
    ok,
    outcome: overrides.outcome ?? (ok ? 'ok' : 'failed'),
    tokens: 10,
    costMicroCents: 500,
    budgetPeriodStart: null,
    ...overrides,
  };
}

/** A refusal of an identified key. */
export function buildRefusal(outcome: RefusalOutcome, overrides: Partial<RefusalEvent> = {}): RefusalEvent {
  return { ...facts({ status: 403, ...overrides }), outcome, ...overrides };
}
