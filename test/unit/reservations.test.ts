import { createMemoryLimits } from '../../packages/guard/src/limits/limits';
import type { MemoryLedger } from '../../packages/guard/src/limits/ledger';
import { ReservationsInFlight } from '../../src/observability/reservations';

const baseline = { periodStart: 0, used: 0, ceiling: 0 };

describe('ReservationsInFlight', () => {
  it('counts budget reservations from reserve to settle (quota reservations and refused ones not), alike the ledger', async () => {
    const inFlight = new ReservationsInFlight();
    const memory = createMemoryLimits();
    const limits = inFlight.track(memory);
    const ledger = limits.ledger;
    const budget = (amount: number) => ledger.reserve({ keyId: 'k', kind: 'budget', periodStart: 0, limit: 1_000, amount, baseline });

    const quota = await ledger.reserve({ keyId: 'k', kind: 'quota', periodStart: 0, limit: 10, amount: 1, baseline });
    const a = await budget(300);
    const b = await budget(200);
    expect((await budget(600)).ok).toBe(false); // over the limit: nothing held
    expect({ count: inFlight.count, microCents: inFlight.microCents }).toEqual({ count: 2, microCents: 500 });
    if (!quota.ok || !a.ok || !b.ok) throw new Error('expected reservations');
    await ledger.settle(quota.reservation, 1);
    await ledger.settle(a.reservation, 120);
    expect({ count: inFlight.count, microCents: inFlight.microCents }).toEqual({ count: 1, microCents: 200 });
    await ledger.settle(b.reservation, 0);
    expect({ count: inFlight.count, microCents: inFlight.microCents }).toEqual({ count: 0, microCents: 0 });
    // The wrapped ledger did the work: what was settled is counted, nothing stays reserved.
    expect((memory.ledger as MemoryLedger).outstanding()).toBe(0);
    expect(await ledger.usage('k', 'budget', 0, baseline)).toEqual({ used: 120, reserved: 0 });
    expect(limits.rateWindows).toBe(memory.rateWindows);
  });
});
