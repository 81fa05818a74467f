import { type UsageBatch, UsageBuffer, type UsageSink } from '../../src/usage/usage-buffer';
import type { UsageEvent } from '../../packages/guard/src/usage/usage-types';
import { buildUsageEvent } from '../helpers/usage-events';

class MemorySink implements UsageSink {
  batches: UsageBatch[] = [];
  /** The id of every batch sent, written or not. */
  sent: string[] = [];
  failures = 0;
  async write(batch: UsageBatch) {
    this.sent.push(batch.id);
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('database down');
    }
    this.batches.push(batch);
  }
}

/** A sink whose writes end when the test says so. */
class GatedSink implements UsageSink {
  batches: UsageBatch[] = [];
  private readonly ends: (() => void)[] = [];
  write(batch: UsageBatch) {
    this.batches.push(batch);
    return new Promise<void>((resolve) => this.ends.push(resolve));
  }
  /** Ends the oldest write in flight. */
  end() {
    this.ends.shift()?.();
  }
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));
const requestsIn = (batch: UsageBatch) => batch.keys.reduce((sum, k) => sum + k.requestsOk + k.requestsFailed, 0);

const at = Date.UTC(2026, 10, 22, 10, 30);
const event = (overrides: Partial<UsageEvent> = {}): UsageEvent =>
  buildUsageEvent({ budgetPeriodStart: Date.UTC(2026, 10, 1), at, ...overrides });

describe('UsageBuffer', () => {
  it('adds requests up per key, per hour and per day, and writes them in one batch', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.record(event());
    buffer.record(event({ ok: false, tokens: 0, costMicroCents: 0 }));
    buffer.record(event({ keyId: 'k2', at: at + 3_600_000 }));
    await buffer.flush();
    expect(sink.batches).toHaveLength(1);
    const [batch] = sink.batches;
    expect(batch.keys.find((k) => k.keyId === 'k1')).toMatchObject({ requestsOk: 1, requestsFailed: 1, tokens: 10, spendMicroCents: 500 });
    expect(batch.hourly.map((r) => [r.keyId, r.bucketStart, r.requestsOk + r.requestsFailed])).toEqual([
      ['k1', Date.UTC(2026, 10, 22, 10), 2],
      ['k2', Date.UTC(2026, 10, 22, 11), 1],
    ]);
    expect(batch.daily.map((r) => r.bucketStart)).toEqual([Date.UTC(2026, 10, 22), Date.UTC(2026, 10, 22)]);
    await buffer.flush();
    expect(sink.batches).toHaveLength(1);
  });

  it('writes lastUsedAt at most once a minute per key', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.record(event());
    await buffer.flush();
    buffer.record(event({ at: at + 30_000 }));
    await buffer.flush();
    buffer.record(event({ at: at + 61_000 }));
    await buffer.flush();
    expect(sink.batches.map((b) => b.keys[0].lastUsedAt)).toEqual([at, null, at + 61_000]);
  });

  it('a key whose lastUsedAt falls due within a batch gets it from the first request after that moment, hot or not', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.record(event());
    await buffer.flush();
    // One batch: not due yet (read once for the key), then due 60 s after the write.
    for (const offset of [10_000, 59_999, 60_000, 60_500]) buffer.record(event({ at: at + offset }));
    buffer.record(event({ keyId: 'k2', at: at + 10_000 }));
    await buffer.flush();
    const [, second] = sink.batches;
    expect(second.keys.map((k) => [k.keyId, k.lastUsedAt])).toEqual([
      ['k1', at + 60_500],
      ['k2', at + 10_000],
    ]);
    expect(second.hourly.map((r) => [r.keyId, r.requestsOk])).toEqual([
      ['k1', 4],
      ['k2', 1],
    ]);
  });

  it('sends a batch that failed to write again as it was (same id), before what came since', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { onError: () => undefined });
    sink.failures = 2;
    buffer.record(event());
    await buffer.flush();
    expect(buffer.pendingRequests()).toBe(1);
    buffer.record(event());
    await buffer.flush();
    expect(buffer.pendingRequests()).toBe(2);
    await buffer.flush();
    // The same id each time it is sent (the database recognises one whose earlier send committed).
    expect(sink.sent).toEqual([sink.sent[0], sink.sent[0], sink.sent[0], sink.sent[3]]);
    expect(new Set(sink.sent).size).toBe(2);
    expect(sink.batches.map((b) => b.id)).toEqual([sink.sent[0], sink.sent[3]]);
    for (const batch of sink.batches) {
      expect(batch.keys[0]).toMatchObject({ requestsOk: 1, spendMicroCents: 500 });
      expect(batch.keys[0]).toMatchObject({ budgetPeriod: Date.UTC(2026, 10, 1), budgetPeriodSpend: 500 });
      expect(batch.hourly[0].requestsOk).toBe(1);
    }
    expect(buffer.isEmpty()).toBe(true);
  });

  it('writes everything left on stop, retrying through failures', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { onError: () => undefined });
    buffer.start();
    for (let i = 0; i < 1000; i++) buffer.record(event());
    sink.failures = 2;
    await buffer.stop();
    const total = sink.batches.flatMap((b) => b.keys).reduce((sum, k) => sum + k.requestsOk, 0);
    expect(total).toBe(1000);
  });

  it('forgets a key\'s counters when its usage is reset, but keeps its history buckets', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.record(event());
    buffer.dropCounters('k1');
    await buffer.flush();
    expect(sink.batches[0].keys[0]).toMatchObject({ requestsOk: 0, spendMicroCents: 0 });
    expect(sink.batches[0].hourly[0].requestsOk).toBe(1);
  });

  it('ticks during a slow write leave one write behind it, started the moment it ends, not a backlog', async () => {
    const sink = new GatedSink();
    const buffer = new UsageBuffer(sink);
    buffer.record(event());
    const first = buffer.flush();
    await settle();
    // Three ticks while the first write runs: one write comes due and they all wait for it.
    const asks = [buffer.flush(), buffer.flush(), buffer.flush()];
    expect(asks[1]).toBe(asks[0]);
    expect(asks[2]).toBe(asks[0]);
    buffer.record(event());
    buffer.record(event());
    sink.end();
    await first;
    await settle();
    // It started as the first ended, with everything recorded until then.
    expect(sink.batches.map(requestsIn)).toEqual([1, 2]);
    buffer.record(event());
    sink.end();
    await asks[0];
    await settle();
    // Usage recorded during the second write waits for the next tick, not for a queued-up write.
    expect(sink.batches).toHaveLength(2);
    expect(buffer.pendingRequests()).toBe(1);
  });

  it('writes slower than the interval run back to back, so usage waits at most one interval plus two writes; stop writes the rest', async () => {
    jest.useFakeTimers();
    try {
      const started: number[] = [];
      const sink: UsageSink = {
        write: async (batch) => {
          started.push(Date.now());
          written += requestsIn(batch);
          await new Promise((resolve) => setTimeout(resolve, 250));
        },
      };
      let written = 0;
      let recorded = 0;
      const buffer = new UsageBuffer(sink, { intervalMs: 100 });
      const t0 = Date.now();
      const load = setInterval(() => {
        buffer.record(event());
        recorded += 1;
      }, 10);
      buffer.start();
      await jest.advanceTimersByTimeAsync(1_000);
      clearInterval(load);
      expect(started.map((t) => t - t0)).toEqual([100, 350, 600, 850]);
      const stopping = buffer.stop();
      await jest.advanceTimersByTimeAsync(1_000);
      await stopping;
      expect(written).toBe(recorded);
      expect(recorded).toBe(100);
    } finally {
      jest.useRealTimers();
    }
  });

  it('reports each write with its requests and duration; a throwing report neither rewrites the batch nor stops later writes', async () => {
    const sink = new MemorySink();
    const reports: { requests: number; ms: number }[] = [];
    const buffer = new UsageBuffer(sink, {
      onWritten: (report) => {
        reports.push(report);
        if (reports.length === 1) throw new Error('report failed');
      },
    });
    buffer.record(event());
    buffer.record(event({ ok: false }));
    await expect(buffer.flush()).rejects.toThrow('report failed');
    buffer.record(event());
    await buffer.flush();
    expect(sink.batches.map(requestsIn)).toEqual([2, 1]);
    expect(reports.map((r) => r.requests)).toEqual([2, 1]);
    expect(reports.every((r) => r.ms >= 0)).toBe(true);
  });
});

/** A sink that refuses, for its data (code 22003), every batch holding usage of a poisoned key. */
class RefusingSink implements UsageSink {
  batches: UsageBatch[] = [];
  sent: UsageBatch[] = [];
  down = false;
  constructor(readonly poisoned: Set<string>) {}
  async write(batch: UsageBatch) {
    this.sent.push(batch);
    if (this.down) throw new Error('database down');
    const owners = [...batch.keys, ...batch.requestLog].map((row) => row.keyId);
    if (owners.some((id) => this.poisoned.has(id))) throw Object.assign(new Error('bigint out of range'), { code: '22003' });
    this.batches.push(batch);
  }
  written(keyId: string) {
    return this.batches.flatMap((b) => b.keys).filter((k) => k.keyId === keyId).reduce((sum, k) => sum + k.requestsOk + k.requestsFailed, 0);
  }
}

describe('UsageBuffer, a batch the database refuses for its data', () => {
  const refusedFor = (error: unknown) => ((error as { code?: string }).code === '22003' ? '22003' : null);

  function world(poisoned: string[]) {
    const sink = new RefusingSink(new Set(poisoned));
    const setAside: { part: UsageBatch; reason: string }[] = [];
    const buffer = new UsageBuffer(sink, { onError: () => undefined, refusedFor, onSetAside: (part, reason) => setAside.push({ part, reason }) });
    return { sink, buffer, setAside };
  }

  it('writes every other key at once, and sets the refused key\'s part aside after three refused writes', async () => {
    const { sink, buffer, setAside } = world(['k3']);
    for (const keyId of ['k1', 'k2', 'k3', 'k4', 'k5']) buffer.record(event({ keyId }));
    buffer.record(event({ keyId: 'k3' }));
    await buffer.flush();
    for (const keyId of ['k1', 'k2', 'k4', 'k5']) expect(sink.written(keyId)).toBe(1);
    expect(buffer.pendingRequests()).toBe(2);
    // Every part written holds what it held before the split: nothing of k3, nothing twice.
    expect(sink.batches.flatMap((b) => b.requestLog.map((r) => r.keyId)).sort()).toEqual(['k1', 'k2', 'k4', 'k5']);
    expect(new Set(sink.sent.map((b) => b.id)).size).toBe(sink.sent.length);
    // Not held back: a key used meanwhile is written at the next write, beside the retry.
    buffer.record(event({ keyId: 'k1' }));
    await buffer.flush();
    expect(sink.written('k1')).toBe(2);
    expect(setAside).toEqual([]);
    await buffer.flush();
    expect(setAside).toHaveLength(1);
    expect(setAside[0].reason).toBe('22003');
    expect(setAside[0].part.keys).toEqual([expect.objectContaining({ keyId: 'k3', requestsOk: 2 })]);
    expect(setAside[0].part.requestLog.map((r) => r.keyId)).toEqual(['k3', 'k3']);
    expect(buffer.isEmpty()).toBe(true);
    expect(sink.written('k3')).toBe(0);
  });

  it('sends a refused key\'s later usage apart from the start, until a part of it is written', async () => {
    const { sink, buffer } = world(['k3']);
    buffer.record(event({ keyId: 'k1' }));
    buffer.record(event({ keyId: 'k3' }));
    await buffer.flush();
    const keysOf = (batch: UsageBatch) => batch.keys.map((k) => k.keyId).sort();
    const sentFrom = (from: number) => sink.sent.slice(from).map(keysOf);
    let from = sink.sent.length;
    buffer.record(event({ keyId: 'k2' }));
    buffer.record(event({ keyId: 'k3' }));
    await buffer.flush();
    // The earlier part of k3 again, then the new batch without k3, then k3's new usage on its own.
    expect(sentFrom(from)).toEqual([['k3'], ['k2'], ['k3']]);
    expect(sink.written('k2')).toBe(1);
    // Once the database takes k3 again, its parts are written and it travels with the rest again.
    sink.poisoned.clear();
    await buffer.flush();
    expect(sink.written('k3')).toBe(2);
    from = sink.sent.length;
    buffer.record(event({ keyId: 'k1' }));
    buffer.record(event({ keyId: 'k3' }));
    await buffer.flush();
    expect(sentFrom(from)).toEqual([['k1', 'k3']]);
  });

  it('keeps a refused part while the database is away, and sets it aside only after three refusals', async () => {
    const { sink, buffer, setAside } = world(['k2']);
    buffer.record(event({ keyId: 'k1' }));
    buffer.record(event({ keyId: 'k2' }));
    await buffer.flush();
    expect(sink.written('k1')).toBe(1);
    sink.down = true;
    for (let i = 0; i < 5; i++) await buffer.flush();
    expect(setAside).toEqual([]);
    expect(buffer.pendingRequests()).toBe(1);
    sink.down = false;
    await buffer.flush();
    await buffer.flush();
    expect(setAside.map((s) => s.part.keys.map((k) => k.keyId))).toEqual([['k2']]);
  });

  it('sends everything again in order through an outage, splitting nothing (an outage is not a refusal)', async () => {
    const { sink, buffer, setAside } = world([]);
    sink.down = true;
    buffer.record(event({ keyId: 'k1' }));
    buffer.record(event({ keyId: 'k2' }));
    for (let i = 0; i < 4; i++) await buffer.flush();
    expect(new Set(sink.sent.map((b) => b.id)).size).toBe(1);
    sink.down = false;
    await buffer.flush();
    expect(sink.batches).toHaveLength(1);
    expect(sink.batches[0].keys.map((k) => k.keyId)).toEqual(['k1', 'k2']);
    expect(setAside).toEqual([]);
  });

  it('without refusedFor, a refused batch is kept and sent again whole, as an outage', async () => {
    const sink = new RefusingSink(new Set(['k2']));
    const buffer = new UsageBuffer(sink, { onError: () => undefined });
    buffer.record(event({ keyId: 'k1' }));
    buffer.record(event({ keyId: 'k2' }));
    for (let i = 0; i < 4; i++) await buffer.flush();
    expect(sink.batches).toEqual([]);
    expect(buffer.pendingRequests()).toBe(2);
  });

  it('sets aside attempts naming no key by address, apart from every key', async () => {
    const sink = new RefusingSink(new Set());
    const refusing = { write: async (batch: UsageBatch) => (batch.unknownKeys.some((u) => u.ip === '198.51.100.9') ? Promise.reject(Object.assign(new Error('x'), { code: '22003' })) : sink.write(batch)) };
    const setAside: UsageBatch[] = [];
    const buffer = new UsageBuffer(refusing, { onError: () => undefined, refusedFor, onSetAside: (part) => setAside.push(part) });
    buffer.record(event({ keyId: 'k1' }));
    buffer.unknownKey({ ip: '198.51.100.9', at, blocked: false });
    buffer.unknownKey({ ip: '198.51.100.10', at, blocked: false });
    for (let i = 0; i < 3; i++) await buffer.flush();
    expect(sink.written('k1')).toBe(1);
    expect(sink.batches.flatMap((b) => b.unknownKeys.map((u) => u.ip))).toEqual(['198.51.100.10']);
    expect(setAside.map((p) => p.unknownKeys.map((u) => u.ip))).toEqual([['198.51.100.9']]);
  });
});
