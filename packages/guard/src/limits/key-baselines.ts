import type { ApiKeyRecord } from '../keys/key-types';
import type { CounterBaseline } from './ledger';

/**
 * What the database knows of a key's budget counter, for a ledger that has not seen the key yet.
 * The guard and the status views must start counters the same way: both use it (the quota's
 * baseline is keyQuotaBaseline() in middleware/claims.ts).
 */
export function budgetBaseline(key: ApiKeyRecord): CounterBaseline {
  return {
    used: key.ledger.budgetSpentMicroCents,
    ceiling: key.ledger.budgetCeilingMicroCents,
    // No stored period yet: no period matches, the counter starts at 0.
    periodStart: key.ledger.budgetPeriodStart?.getTime() ?? -1,
  };
}
