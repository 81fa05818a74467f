/**
 * What the usage journal rests on in memory: a buffer that absorbs the batches other buffers took
 * holds exactly what one buffer recording all their events would, and a batch survives its
 * journal payload unchanged (but for its request log, which is written at once, never journaled).
 */
import fc from 'fast-check';
import type { RefusalOutcome } from '../../packages/guard/src/usage/usage-types';
import { partitionUsageBatch, usageBatchFromJournal, usageBatchOwners, usageBatchParts, usageBatchToJournal } from '../../src/usage/usage-batch';
import { type UsageBatch, UsageBuffer, type UsageBufferOptions } from '../../src/usage/usage-buffer';
import { buildRefusal, buildUsageEvent } from '../helpers/usage-events';

const HOUR = 3_600_000;
const start = Date.UTC(2026, 10, 30, 22, 0);

type Step =
  | { kind: 'admitted'; key: number; ip: number; at: number; ok: boolean; model: number; tokens: number; cost: number; budget: number }
  | { kind: 'refused'; key: number; ip: number; at: number; outcome: RefusalOutcome }
  | { kind: 'unknown'; ip: number; at: number; blocked: boolean }
  | { kind: 'take' };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('admitted' as const), key: fc.nat(4), ip: fc.nat(2), at: fc.nat(4 * HOUR), ok: fc.boolean(), model: fc.nat(2), tokens: fc.nat(5000), cost: fc.nat(90_000), budget: fc.nat(1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('refused' as const), key: fc.nat(4), ip: fc.nat(2), at: fc.nat(4 * HOUR), outcome: fc.constantFrom<RefusalOutcome>('rate_limited', 'ip_not_allowed', 'quota_exceeded') }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unknown' as const), ip: fc.nat(3), at: fc.nat(4 * HOUR), blocked: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'take' as const }) },
);

function apply(buffer: UsageBuffer, s: Exclude<Step, { kind: 'take' }>): void {
  const ip = `203.0.113.${s.ip + 1}`;
  const at = start + s.at;
  if (s.kind === 'unknown') return buffer.unknownKey({ ip, at, blocked: s.blocked });
  const keyId = `key${s.key}`;
  const tenantId = `tenant${s.key % 2}`;
  if (s.kind === 'refused') return buffer.refused(buildRefusal(s.outcome, { keyId, tenantId, ip, at }));
  buffer.record(
    buildUsageEvent({
      keyId,
      tenantId,
      ip,
      at,
      ok: s.ok,
      model: s.model === 0 ? null : `model-${s.model}`,
      tokens: s.tokens,
      costMicroCents: s.cost,
      budgetPeriodStart: s.budget === 0 ? null : Date.UTC(2026, 10 + Math.floor(s.at / (3 * HOUR)), 1),
    }),
  );
}

/** A batch's content in a canonical order, without its id (and, for the key rows, budget periods as pairs). */
function canonical(batch: UsageBatch) {
  const sorted = <T>(rows: T[]) => rows.map((row) => JSON.stringify(row, (_, v) => (v instanceof Map ? [...v].sort() : v))).sort();
  return {
    keys: sorted(batch.keys),
    hourly: sorted(batch.hourly),
    daily: sorted(batch.daily),
    outcomesHourly: sorted(batch.outcomesHourly),
    outcomesDaily: sorted(batch.outcomesDaily),
    models: sorted(batch.models),
    requestLog: sorted(batch.requestLog),
    clientAddresses: sorted(batch.clientAddresses),
    unknownKeys: sorted(batch.unknownKeys),
  };
}

/** A buffer whose sink keeps its batches; take() writes and answers the next one. */
function keptBuffer(options: UsageBufferOptions = {}) {
  const sink: UsageBatch[] = [];
  const buffer = new UsageBuffer({ write: async (b) => void sink.push(b) }, options);
  const take = async (): Promise<UsageBatch> => {
    const before = sink.length;
    await buffer.flush();
    return sink.length > before ? sink[sink.length - 1] : UsageBuffer.sum([]);
  };
  return { buffer, take };
}

/** The batch of the steps' events (takes among them ignored). */
function recorded(steps: Step[], options: UsageBufferOptions = {}): Promise<UsageBatch> {
  const kept = keptBuffer(options);
  for (const s of steps) if (s.kind !== 'take') apply(kept.buffer, s);
  return kept.take();
}

describe('UsageBuffer.absorb', () => {
  it('sums batches taken at any points exactly as one buffer recording every event', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), async (steps) => {
        const [one, part, folder] = [0, 1, 2].map(() => keptBuffer({ lastUsedEveryMs: 0 }));
        // Times only move forward, as a process's clock does between its writes.
        const times = steps.flatMap((s) => ('at' in s ? [s.at] : [])).sort((x, y) => x - y);
        let next = 0;
        for (const s of steps) if ('at' in s) s.at = times[next++];
        for (const s of steps) {
          if (s.kind === 'take') {
            folder.buffer.absorb(await part.take());
            continue;
          }
          apply(one.buffer, s);
          apply(part.buffer, s);
        }
        folder.buffer.absorb(await part.take());
        expect(canonical(await folder.take())).toEqual(canonical(await one.take()));
      }),
      { numRuns: 200 },
    );
  });

  it('carries the journal rows of what it absorbed to the batch it writes, and never splits such a batch', async () => {
    const sink: UsageBatch[] = [];
    const folder = new UsageBuffer({ write: async (b) => void sink.push(b) });
    const a = keptBuffer();
    a.buffer.record(buildUsageEvent({ keyId: 'k1' }));
    a.buffer.record(buildUsageEvent({ keyId: 'k2' }));
    folder.absorb({ ...(await a.take()), journalIds: ['j1'] });
    // A journal row whose usage was all dropped (a reset) is still consumed.
    folder.absorb({ ...UsageBuffer.sum([]), journalIds: ['j2', 'j3'] });
    expect(folder.isEmpty()).toBe(false);
    await folder.flush();
    expect(sink.map((b) => b.journalIds)).toEqual([['j1', 'j2', 'j3']]);
    expect(folder.isEmpty()).toBe(true);
    expect(() => partitionUsageBatch({ ...sink[0], journalIds: ['j1'] }, new Set(['k1']))).toThrow(/journal/);
  });
});

describe('usage journal payloads', () => {
  it('read back every batch as it was written (the request log left out)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
        const batch = await recorded(steps, { lastUsedEveryMs: 60_000 });
        const read = usageBatchFromJournal(batch.id, usageBatchToJournal(batch));
        expect(read.id).toBe(batch.id);
        expect(canonical(read)).toEqual(canonical({ ...batch, requestLog: [] }));
      }),
      { numRuns: 200 },
    );
  });

  it('writes lists longer than a slice as one JSON text, the same as the whole batch stringified at once', async () => {
    let taken: UsageBatch | undefined;
    const keeper = new UsageBuffer({ write: async (b) => void (taken = b) });
    for (let i = 0; i < 1_234; i++) {
      const at = Date.UTC(2026, 11, 3, 10, 59, 59, 500) + (i % 2) * 1_000;
      keeper.record(buildUsageEvent({ keyId: `k${i}`, at, model: i % 3 === 0 ? 'm "quoted"' : 'm2', ip: `203.0.113.${i % 7}` }));
    }
    await keeper.flush();
    const batch = taken as UsageBatch;
    expect(batch.hourly.length).toBeGreaterThan(1_000);
    // The layout of version 2: the lists of positional rows as usageBatchFromJournal names them,
    // each naming its key and tenant by their index in `ids` and `ten` (in the order first written).
    const ids = [...new Set([batch.keys, batch.hourly, batch.daily, batch.outcomesHourly, batch.outcomesDaily, batch.models, batch.clientAddresses].flatMap((rows) => rows.map((r) => r.keyId)))];
    const ten = [...new Set([batch.keys, batch.hourly, batch.daily, batch.outcomesHourly, batch.outcomesDaily, batch.models, batch.clientAddresses].flatMap((rows) => rows.map((r) => r.tenantId)))];
    const key = (r: { keyId: string }) => ids.indexOf(r.keyId);
    const tenant = (r: { tenantId: string }) => ten.indexOf(r.tenantId);
    const atOnce = JSON.stringify({
      v: 2,
      k: batch.keys.map((k) => [key(k), tenant(k), k.requestsOk, k.requestsFailed, k.tokens, k.spendMicroCents, k.budgetPeriod, k.budgetPeriodSpend, k.lastUsedAt]),
      h: batch.hourly.map((r) => [key(r), tenant(r), r.bucketStart, r.requestsOk, r.requestsFailed, r.tokens, r.spendMicroCents]),
      d: batch.daily.map((r) => [key(r), tenant(r), r.bucketStart, r.requestsOk, r.requestsFailed, r.tokens, r.spendMicroCents]),
      oh: batch.outcomesHourly.map((o) => [key(o), tenant(o), o.bucketStart, o.outcome, o.requests]),
      od: batch.outcomesDaily.map((o) => [key(o), tenant(o), o.bucketStart, o.outcome, o.requests]),
      m: batch.models.map((m) => [key(m), tenant(m), m.bucketStart, m.model, m.outcome, m.requests, m.tokens, m.spendMicroCents]),
      a: batch.clientAddresses.map((a) => [key(a), tenant(a), a.ip, a.firstSeenAt, a.lastSeenAt, a.requests, a.keepLastSeen === true ? 1 : 0]),
      u: batch.unknownKeys.map((u) => [u.ip, u.bucketStart, u.attempts, u.blockedAttempts, u.lastSeenAt]),
      ids,
      ten,
    });
    expect(usageBatchToJournal(batch)).toBe(atOnce);
    expect(canonical(usageBatchFromJournal(batch.id, usageBatchToJournal(batch)))).toEqual(canonical({ ...batch, requestLog: [] }));
  });

  it("reads a key's spend in several budget periods (rows of earlier versions) as the newest period's, as a write applies it", () => {
    const [nov, dec] = [Date.UTC(2026, 10, 1), Date.UTC(2026, 11, 1)];
    for (const pairs of [[[nov, 5], [dec, 7]], [[dec, 7], [nov, 5]]]) {
      const payload = JSON.stringify({ v: 1, k: [['k1', 't1', 2, 0, 0, 12, pairs, null]], h: [], d: [], oh: [], od: [], m: [], a: [], u: [] });
      expect(usageBatchFromJournal('b1', payload).keys[0]).toMatchObject({ budgetPeriod: dec, budgetPeriodSpend: 7, spendMicroCents: 12 });
    }
    const none = JSON.stringify({ v: 1, k: [['k1', 't1', 1, 0, 0, 0, [], null]], h: [], d: [], oh: [], od: [], m: [], a: [], u: [] });
    expect(usageBatchFromJournal('b2', none).keys[0]).toMatchObject({ budgetPeriod: null, budgetPeriodSpend: 0 });
  });

  it('refuses a payload of another version rather than misreading it', () => {
    expect(() => usageBatchFromJournal('b1', JSON.stringify({ v: 3, k: [] }))).toThrow(/version 3/);
  });

  it('reads payloads of version 1 (each row naming its key and tenant by their ids), as written before version 2', () => {
    const [hour, day] = [Date.UTC(2026, 11, 3, 10), Date.UTC(2026, 11, 3)];
    const v1 = JSON.stringify({
      v: 1,
      k: [['k1', 't1', 2, 1, 30, 12, [[day, 12]], hour + 5]],
      h: [['k1', 't1', hour, 2, 1, 30, 12]],
      d: [['k1', 't1', day, 2, 1, 30, 12]],
      oh: [['k1', 't1', hour, 'ok', 2]],
      od: [['k2', 't2', day, 'rate_limited', 4]],
      m: [['k1', 't1', day, 'gpt-4o', 'ok', 2, 30, 12]],
      a: [['k2', 't2', '203.0.113.9', hour, hour + 9, 4, 1]],
      u: [['198.51.100.1', day, 3, 1, hour + 7]],
    });
    const read = usageBatchFromJournal('b1', v1);
    expect(read).toEqual({
      id: 'b1',
      keys: [{ keyId: 'k1', tenantId: 't1', requestsOk: 2, requestsFailed: 1, tokens: 30, spendMicroCents: 12, budgetPeriod: day, budgetPeriodSpend: 12, lastUsedAt: hour + 5 }],
      hourly: [{ keyId: 'k1', tenantId: 't1', bucketStart: hour, requestsOk: 2, requestsFailed: 1, tokens: 30, spendMicroCents: 12 }],
      daily: [{ keyId: 'k1', tenantId: 't1', bucketStart: day, requestsOk: 2, requestsFailed: 1, tokens: 30, spendMicroCents: 12 }],
      outcomesHourly: [{ keyId: 'k1', tenantId: 't1', bucketStart: hour, outcome: 'ok', requests: 2 }],
      outcomesDaily: [{ keyId: 'k2', tenantId: 't2', bucketStart: day, outcome: 'rate_limited', requests: 4 }],
      models: [{ keyId: 'k1', tenantId: 't1', bucketStart: day, model: 'gpt-4o', outcome: 'ok', requests: 2, tokens: 30, spendMicroCents: 12 }],
      requestLog: [],
      clientAddresses: [{ keyId: 'k2', tenantId: 't2', ip: '203.0.113.9', firstSeenAt: hour, lastSeenAt: hour + 9, requests: 4, keepLastSeen: true }],
      unknownKeys: [{ ip: '198.51.100.1', bucketStart: day, attempts: 3, blockedAttempts: 1, lastSeenAt: hour + 7 }],
    });
    // The same batch written today is version 2, and reads back the same.
    const again = usageBatchToJournal(read);
    expect(JSON.parse(again)).toMatchObject({ v: 2, ids: ['k1', 'k2'], ten: ['t1', 't2'] });
    expect(again.length).toBeLessThan(v1.length);
    expect(usageBatchFromJournal('b1', again)).toEqual(read);
  });
});

describe('a fold in parts', () => {
  it('puts every row of a batch in exactly one part of at most n owners', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 60 }), fc.integer({ min: 1, max: 4 }), async (steps, n) => {
        const batch = await recorded(steps);
        const parts = usageBatchParts(batch, n);
        for (const part of parts) expect(usageBatchOwners(part).length).toBeLessThanOrEqual(n);
        expect(parts.flatMap(usageBatchOwners)).toEqual(usageBatchOwners(batch));
        expect(new Set(parts.map((p) => p.id)).size).toBe(parts.length);
        const concat = (list: keyof ReturnType<typeof canonical>) => parts.flatMap((p) => canonical(p)[list]).sort();
        for (const list of Object.keys(canonical(batch)) as (keyof ReturnType<typeof canonical>)[]) expect(concat(list)).toEqual(canonical(batch)[list]);
      }),
      { numRuns: 200 },
    );
  });

  it('writes the batches a sink answers next, before anything newer, and sends a failed one again', async () => {
    const written: string[] = [];
    let failNext = false;
    const buffer = new UsageBuffer({
      write: async (batch) => {
        const name = batch.keys.map((k) => k.keyId).join(',');
        if (failNext && name === 'k1 part 2') {
          failNext = false;
          throw new Error('database down');
        }
        written.push(name);
        if (name === 'k1') return [1, 2].map((i) => ({ ...UsageBuffer.sum([]), keys: [{ ...batch.keys[0], keyId: `k1 part ${i}` }] }));
        return undefined;
      },
    });
    failNext = true;
    buffer.record(buildUsageEvent({ keyId: 'k1' }));
    await buffer.flush();
    expect(written).toEqual(['k1', 'k1 part 1']);
    expect(buffer.isEmpty()).toBe(false);
    buffer.record(buildUsageEvent({ keyId: 'k2' }));
    await buffer.flush();
    expect(written).toEqual(['k1', 'k1 part 1', 'k1 part 2', 'k2']);
    expect(buffer.isEmpty()).toBe(true);
  });
});
