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
      expect(batch.keys[0].budgetSpend.get(Date.UTC(2026, 10, 1))).toBe(500);
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
