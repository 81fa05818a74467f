import { type CeilingStore, type CounterKind, MemoryLedger, type ReserveRequest } from '../../packages/guard/src/limits/ledger';

class RecordingCeilings implements CeilingStore {
  raises: { keyId: string; kind: CounterKind; periodStart: number; ceiling: number }[] = [];
  lowered: { keyId: string; kind: CounterKind; periodStart: number; ceiling: number }[] = [];
  durable = new Map<string, number>();
  delayMs = 0;
  fail = false;

  async raise(keyId: string, kind: CounterKind, periodStart: number, ceiling: number) {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fail) throw new Error('database down');
    this.raises.push({ keyId, kind, periodStart, ceiling });
    this.durable.set(`${kind}:${keyId}`, Math.max(this.durable.get(`${kind}:${keyId}`) ?? 0, ceiling));
  }

  async lower(entries: { keyId: string; kind: CounterKind; periodStart: number; ceiling: number }[]) {
    this.lowered.push(...entries);
  }
}

const request = (overrides: Partial<ReserveRequest> = {}): ReserveRequest => ({
  keyId: 'k1',
  kind: 'budget',
  periodStart: 0,
  limit: 1000,
  amount: 100,
  baseline: { used: 0, ceiling: 0, periodStart: 0 },
  ...overrides,
});

describe('MemoryLedger', () => {
  it('reserves up to the limit and refuses what could pass it', async () => {
    const ledger = new MemoryLedger(new RecordingCeilings());
    const held = [];
    for (let i = 0; i < 10; i++) {
      const result = await ledger.reserve(request());
      expect(result.ok).toBe(true);
      if (result.ok) held.push(result.reservation);
    }
    expect(await ledger.reserve(request({ amount: 1 }))).toEqual({ ok: false, used: 0, reserved: 1000 });
    await ledger.settle(held[0], 40);
    expect(await ledger.usage('k1', 'budget', 0, request().baseline)).toEqual({ used: 40, reserved: 900 });
    expect((await ledger.reserve(request({ amount: 60 }))).ok).toBe(true);
    expect((await ledger.reserve(request({ amount: 1 }))).ok).toBe(false);
  });

  it('never lets concurrent reservations pass the limit, and raises the ceiling before usage passes it', async () => {
    const ceilings = new RecordingCeilings();
    ceilings.delayMs = 2;
    const ledger = new MemoryLedger(ceilings);
    const results = await Promise.all(Array.from({ length: 200 }, () => ledger.reserve(request({ limit: 10_000, amount: 137 }))));
    const granted = results.filter((r) => r.ok);
    expect(granted).toHaveLength(Math.floor(10_000 / 137));
    // Every grant fitted under a durable ceiling raised before it.
    expect(ceilings.durable.get('budget:k1')).toBeGreaterThanOrEqual(granted.length * 137);
    expect(ceilings.durable.get('budget:k1')).toBeLessThanOrEqual(10_000);
    const raised = ceilings.raises.map((r) => r.ceiling);
    expect(raised).toEqual([...raised].sort((a, b) => a - b));
    // Raises come in chunks, not per reservation.
    expect(ceilings.raises.length).toBeLessThan(granted.length / 2);
  });

  it('starts a counter after a crash from max(flushed usage, durable ceiling): a lost buffer cannot overshoot', async () => {
    const ledger = new MemoryLedger(new RecordingCeilings());
    // The database says 300 were flushed, but reservations had raised the ceiling to 700.
    const baseline = { used: 300, ceiling: 700, periodStart: 0 };
    expect(await ledger.usage('k1', 'budget', 0, baseline)).toEqual({ used: 700, reserved: 0 });
    expect((await ledger.reserve(request({ amount: 301, baseline }))).ok).toBe(false);
    expect((await ledger.reserve(request({ amount: 300, baseline }))).ok).toBe(true);
  });

  it('starts a new period from zero (monthly budgets reset on the 1st)', async () => {
    const ledger = new MemoryLedger(new RecordingCeilings());
    const november = Date.UTC(2026, 10, 1);
    const december = Date.UTC(2026, 11, 1);
    const baseline = { used: 950, ceiling: 1000, periodStart: november };
    expect((await ledger.reserve(request({ periodStart: november, baseline, amount: 100 }))).ok).toBe(false);
    const next = await ledger.reserve(request({ periodStart: december, baseline, amount: 100 }));
    expect(next.ok).toBe(true);
    expect(await ledger.usage('k1', 'budget', december, baseline)).toEqual({ used: 0, reserved: 100 });
  });

  it('ignores settlements of reservations from a counter that was reset or rolled over', async () => {
    const ledger = new MemoryLedger(new RecordingCeilings());
    const first = await ledger.reserve(request());
    await ledger.reset('k1');
    if (first.ok) await ledger.settle(first.reservation, 100);
    expect(await ledger.usage('k1', 'budget', 0, request().baseline)).toEqual({ used: 0, reserved: 0 });
  });

  it('fails the reservation when the ceiling cannot be raised (the caller refuses the request)', async () => {
    const ceilings = new RecordingCeilings();
    ceilings.fail = true;
    const ledger = new MemoryLedger(ceilings);
    await expect(ledger.reserve(request())).rejects.toThrow('database down');
    ceilings.fail = false;
    expect((await ledger.reserve(request())).ok).toBe(true);
  });

  it('on a clean stop lowers ceilings back to what was used', async () => {
    const ceilings = new RecordingCeilings();
    const ledger = new MemoryLedger(ceilings);
    const result = await ledger.reserve(request({ kind: 'quota', amount: 1, limit: 100 }));
    if (result.ok) await ledger.settle(result.reservation, 1);
    expect(ledger.outstanding()).toBe(0);
    await ledger.close();
    expect(ceilings.lowered).toEqual([{ keyId: 'k1', kind: 'quota', periodStart: 0, ceiling: 1 }]);
  });
});
