import type { ApiKeyRecord } from '../keys/key-types';
import type { CounterBaseline } from './ledger';

/**
 * What the database knows of a key's quota and budget counters, for a ledger that has not seen
 * the key yet. The guard and the status views must start counters the same way: both use these.
 */
export function quotaBaseline(key: ApiKeyRecord): CounterBaseline {
  return { used: key.usage.requestsOk + key.usage.requestsFailed, ceiling: key.ledger.quotaCeiling, periodStart: 0 };
}

export function budgetBaseline(key: ApiKeyRecord): CounterBaseline {
  return {
    used: key.ledger.budgetSpentMicroCents,
    ceiling: key.ledger.budgetCeilingMicroCents,
    // No stored period yet: no period matches, the counter starts at 0.
    periodStart: key.ledger.budgetPeriodStart?.getTime() ?? -1,
  };
}
