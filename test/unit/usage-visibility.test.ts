/**
 * The usage buffer's visibility half: refusals and unknown-key attempts are counted exactly (outcome
 * rollups, request log, client addresses, attempts per address) and written with the usage batch,
 * never in a key's usage or quota counters; what waits in memory is bounded.
 */
import { type UsageBatch, UsageBuffer, type UsageSink } from '../../src/usage/usage-buffer';
import { OTHER_ADDRESSES } from '../../src/usage/visibility-aggregate';
import { buildRefusal, buildUsageEvent } from '../helpers/usage-events';

class MemorySink implements UsageSink {
  batches: UsageBatch[] = [];
  failures = 0;
  async write(batch: UsageBatch) {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new Error('database down');
    }
    this.batches.push(batch);
  }
}

const at = Date.UTC(2026, 10, 22, 10, 30);
const HOUR = Date.UTC(2026, 10, 22, 10);
const DAY = Date.UTC(2026, 10, 22);

const outcomesOf = (batch: UsageBatch, list: 'outcomesHourly' | 'outcomesDaily' = 'outcomesDaily') =>
  Object.fromEntries(batch[list].map((o) => [`${o.keyId}:${o.outcome}`, o.requests]));

describe('UsageBuffer: every outcome counted', () => {
  it('counts admitted requests and refusals by outcome per hour and day; refusals never reach usage counters', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    for (let i = 0; i < 20; i++) buffer.record(buildUsageEvent({ at }));
    buffer.record(buildUsageEvent({ at, outcome: 'client_closed', ok: false, status: 0 }));
    for (let i = 0; i < 5; i++) buffer.refused(buildRefusal('rate_limited', { at, status: 429 }));
    for (let i = 0; i < 3; i++) buffer.refused(buildRefusal('model_not_allowed', { at, model: 'big' }));
    buffer.refused(buildRefusal('invalid_api_key', { at, keyId: 'k2', status: 401 }));
    expect(buffer.pendingRequests()).toBe(21);
    await buffer.flush();
    const [batch] = sink.batches;
    expect(batch.keys).toEqual([expect.objectContaining({ keyId: 'k1', requestsOk: 20, requestsFailed: 1, tokens: 210, spendMicroCents: 10_500 })]);
    expect(batch.hourly.map((r) => r.requestsOk + r.requestsFailed)).toEqual([21]);
    const expected = { 'k1:ok': 20, 'k1:client_closed': 1, 'k1:rate_limited': 5, 'k1:model_not_allowed': 3, 'k2:invalid_api_key': 1 };
    expect(outcomesOf(batch)).toEqual(expected);
    expect(outcomesOf(batch, 'outcomesHourly')).toEqual(expected);
    expect(new Set(batch.outcomesHourly.map((o) => o.bucketStart))).toEqual(new Set([HOUR]));
    expect(new Set(batch.outcomesDaily.map((o) => o.bucketStart))).toEqual(new Set([DAY]));
    // Models: admitted requests only, by outcome.
    expect(batch.models.map((m) => [m.model, m.outcome, m.requests, m.tokens, m.spendMicroCents])).toEqual([
      ['local-small', 'ok', 20, 200, 10_000],
      ['local-small', 'client_closed', 1, 10, 500],
    ]);
    expect(batch.requestLog).toHaveLength(30);
    expect(batch.requestLog.filter((r) => r.outcome === 'rate_limited').every((r) => r.tokens === 0 && r.costMicroCents === 0)).toBe(true);
    expect(batch.clientAddresses.map((a) => [a.keyId, a.ip, a.requests])).toEqual([
      ['k1', '203.0.113.7', 29],
      ['k2', '203.0.113.7', 1],
    ]);
  });

  it('writes a batch holding only refusals (and unknown-key attempts) and writes nothing when idle', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.refused(buildRefusal('key_revoked', { at }));
    buffer.unknownKey({ ip: '192.0.2.1', at, blocked: false });
    await buffer.flush();
    expect(sink.batches).toHaveLength(1);
    expect(sink.batches[0].keys).toEqual([]);
    expect(outcomesOf(sink.batches[0])).toEqual({ 'k1:key_revoked': 1 });
    await buffer.flush();
    expect(sink.batches).toHaveLength(1);
    buffer.unknownKey({ ip: '192.0.2.1', at, blocked: true });
    await buffer.stop();
    expect(sink.batches).toHaveLength(2);
  });

  it('keeps the log row of each request: time, outcome, status, address, model, chatbot, cost, latency, request id, user agent', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    buffer.record(buildUsageEvent({ at, chatbot: 'bot-1', latencyMs: 12.6, requestId: 'req-1', userAgent: 'curl/8', costMicroCents: 15_780, tokens: 42 }));
    buffer.refused(buildRefusal('chatbot_not_allowed', { at: at + 1, model: 'm'.repeat(500), chatbot: null, requestId: null, userAgent: null }));
    await buffer.flush();
    const [admitted, refused] = sink.batches[0].requestLog;
    expect(admitted).toEqual({
      keyId: 'k1',
      tenantId: 't1',
      at,
      outcome: 'ok',
      status: 200,
      ip: '203.0.113.7',
      model: 'local-small',
      chatbot: 'bot-1',
      tokens: 42,
      costMicroCents: 15_780,
      latencyMs: 13,
      requestId: 'req-1',
      userAgent: 'curl/8',
    });
    expect(refused).toMatchObject({ outcome: 'chatbot_not_allowed', status: 403, chatbot: null, tokens: 0, costMicroCents: 0 });
    expect(refused.model).toHaveLength(200);
  });

  it('counts unknown-key attempts per address per day, blocked ones apart', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink);
    for (let i = 0; i < 3; i++) buffer.unknownKey({ ip: '192.0.2.1', at: at + i, blocked: false });
    buffer.unknownKey({ ip: '192.0.2.1', at: at + 10, blocked: true });
    buffer.unknownKey({ ip: '192.0.2.2', at, blocked: false });
    buffer.unknownKey({ ip: '192.0.2.2', at: at + 86_400_000, blocked: false });
    await buffer.flush();
    const rows = sink.batches[0].unknownKeys.map((u) => [u.ip, u.bucketStart, u.attempts, u.blockedAttempts, u.lastSeenAt]);
    expect(rows).toEqual([
      ['192.0.2.1', DAY, 3, 1, at + 10],
      ['192.0.2.2', DAY, 1, 0, at],
      ['192.0.2.2', DAY + 86_400_000, 1, 0, at + 86_400_000],
    ]);
    expect(sink.batches[0].outcomesDaily).toEqual([]);
  });
});

describe('UsageBuffer: bounded memory, exact counts', () => {
  it('drops request-log rows past the bound (counted and reported), never an outcome count', async () => {
    const sink = new MemorySink();
    const dropped: unknown[] = [];
    const buffer = new UsageBuffer(sink, { limits: { maxLogRows: 10 }, onDropped: (d) => dropped.push(d) });
    for (let i = 0; i < 15; i++) buffer.refused(buildRefusal('rate_limited', { at: at + i }));
    for (let i = 0; i < 5; i++) buffer.record(buildUsageEvent({ at: at + 100 + i }));
    await buffer.flush();
    const [batch] = sink.batches;
    expect(batch.requestLog).toHaveLength(10);
    expect(batch.requestLog.map((r) => r.at)).toEqual(Array.from({ length: 10 }, (_, i) => at + i));
    expect(outcomesOf(batch)).toEqual({ 'k1:rate_limited': 15, 'k1:ok': 5 });
    expect(batch.keys[0].requestsOk).toBe(5);
    expect(dropped).toEqual([{ requestLogRows: 10, clientAddressRequests: 0 }]);
    buffer.refused(buildRefusal('rate_limited', { at }));
    await buffer.flush();
    expect(sink.batches[1].requestLog).toHaveLength(1);
    expect(dropped).toHaveLength(1);
  });

  it("adds up a key's several models and addresses in one write, recorded or absorbed, exactly and within the address bound", async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { limits: { maxClientAddresses: 3 }, onDropped: () => undefined });
    const requests: [string, string][] = [
      ['m1', '10.0.0.1'],
      ['m2', '10.0.0.2'],
      ['m1', '10.0.0.1'],
      ['m3', '10.0.0.3'],
      ['m2', '10.0.0.4'],
    ];
    for (const [model, ip] of requests) buffer.record(buildUsageEvent({ at, model, ip }));
    buffer.record(buildUsageEvent({ at, model: 'm3', ip: '10.0.0.2', keyId: 'k2' }));
    await buffer.flush();
    const [recorded] = sink.batches;
    const models = (batch: UsageBatch) => batch.models.map((m) => [m.keyId, m.model, m.requests, m.tokens]);
    const addresses = (batch: UsageBatch) => batch.clientAddresses.map((a) => [a.keyId, a.ip, a.requests]);
    expect(models(recorded)).toEqual([
      ['k1', 'm1', 2, 20],
      ['k1', 'm2', 2, 20],
      ['k1', 'm3', 1, 10],
      ['k2', 'm3', 1, 10],
    ]);
    // Three pairs wait at most: k1's fourth address and k2's are left out (counted as dropped).
    expect(addresses(recorded)).toEqual([
      ['k1', '10.0.0.1', 2],
      ['k1', '10.0.0.2', 1],
      ['k1', '10.0.0.3', 1],
    ]);
    // The same batch absorbed twice into another buffer: every row merges with its own.
    const folder = new MemorySink();
    const sum = new UsageBuffer(folder, { limits: { maxClientAddresses: 10 } });
    sum.absorb(recorded);
    sum.absorb(recorded);
    await sum.flush();
    expect(models(folder.batches[0])).toEqual(models(recorded).map(([key, model, n, tokens]) => [key, model, 2 * Number(n), 2 * Number(tokens)]));
    expect(addresses(folder.batches[0])).toEqual(addresses(recorded).map(([key, ip, n]) => [key, ip, 2 * Number(n)]));
  });

  it('bounds client addresses waiting for a write; unknown-key addresses past the daily bound count as "other"', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { limits: { maxClientAddresses: 2, maxUnknownAddresses: 2 }, onDropped: () => undefined });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.1']) buffer.refused(buildRefusal('ip_not_allowed', { at, ip }));
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.1']) buffer.unknownKey({ ip, at, blocked: false });
    await buffer.flush();
    // Written addresses keep their rows of the day; only new ones past the bound go to "other".
    buffer.unknownKey({ ip: '192.0.2.2', at, blocked: true });
    buffer.unknownKey({ ip: '192.0.2.5', at, blocked: false });
    // A new day starts over.
    buffer.unknownKey({ ip: '192.0.2.5', at: at + 86_400_000, blocked: false });
    await buffer.flush();
    const [first, second] = sink.batches;
    expect(first.clientAddresses.map((a) => [a.ip, a.requests])).toEqual([
      ['10.0.0.1', 2],
      ['10.0.0.2', 1],
    ]);
    expect(outcomesOf(first)).toEqual({ 'k1:ip_not_allowed': 4 });
    expect(first.unknownKeys.map((u) => [u.ip, u.attempts])).toEqual([
      ['192.0.2.1', 2],
      ['192.0.2.2', 1],
      [OTHER_ADDRESSES, 2],
    ]);
    expect(second.unknownKeys.map((u) => [u.ip, u.bucketStart, u.attempts, u.blockedAttempts])).toEqual([
      ['192.0.2.2', DAY, 0, 1],
      [OTHER_ADDRESSES, DAY, 1, 0],
      ['192.0.2.5', DAY + 86_400_000, 1, 0],
    ]);
  });

  it('a failed write keeps every count and log row: the batch is sent again as it was, then what came since (within the bound)', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { onError: () => undefined, limits: { maxLogRows: 4 }, onDropped: () => undefined });
    sink.failures = 1;
    buffer.record(buildUsageEvent({ at }));
    buffer.refused(buildRefusal('quota_exceeded', { at: at + 1 }));
    buffer.unknownKey({ ip: '192.0.2.1', at, blocked: false });
    await buffer.flush();
    expect(sink.batches).toHaveLength(0);
    buffer.refused(buildRefusal('quota_exceeded', { at: at + 2 }));
    buffer.refused(buildRefusal('quota_exceeded', { at: at + 3 }));
    buffer.refused(buildRefusal('quota_exceeded', { at: at + 4 }));
    buffer.unknownKey({ ip: '192.0.2.1', at: at + 5, blocked: false });
    await buffer.flush();
    const [retried, newer] = sink.batches;
    expect(outcomesOf(retried)).toEqual({ 'k1:ok': 1, 'k1:quota_exceeded': 1 });
    expect(outcomesOf(newer)).toEqual({ 'k1:quota_exceeded': 3 });
    expect(retried.keys[0]).toMatchObject({ requestsOk: 1, requestsFailed: 0 });
    expect(newer.keys).toEqual([]);
    // Each batch keeps its own rows, oldest first, within the bound.
    expect([...retried.requestLog, ...newer.requestLog].map((r) => r.at)).toEqual([at, at + 1, at + 2, at + 3, at + 4]);
    expect(retried.clientAddresses).toEqual([expect.objectContaining({ requests: 2, firstSeenAt: at, lastSeenAt: at + 1 })]);
    expect(newer.clientAddresses).toEqual([expect.objectContaining({ requests: 3, firstSeenAt: at + 2, lastSeenAt: at + 4 })]);
    expect([...retried.unknownKeys, ...newer.unknownKeys].map((u) => u.attempts)).toEqual([1, 1]);
  });
});

describe("UsageBuffer: a client address's last-seen time", () => {
  const pairs = (batch: UsageBatch) => Object.fromEntries(batch.clientAddresses.map((a) => [`${a.keyId} ${a.ip}`, [a.requests, a.lastSeenAt, a.keepLastSeen === true]]));

  it("moves a pair's stored lastSeenAt at most once a minute per process, counting every request; a batch sent again moves it as it would have", async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { onError: () => undefined });
    const seen = async (t: number, ips: string[]) => {
      for (const ip of ips) buffer.record(buildUsageEvent({ at: t, ip }));
      await buffer.flush();
      return sink.batches.length > 0 ? pairs(sink.batches[sink.batches.length - 1]) : {};
    };
    expect(await seen(at, ['192.0.2.1'])).toEqual({ 'k1 192.0.2.1': [1, at, false] });
    // Within the minute: counted, the stored time kept; a pair new to this process moves its own.
    expect(await seen(at + 30_000, ['192.0.2.1', '192.0.2.2'])).toEqual({ 'k1 192.0.2.1': [1, at + 30_000, true], 'k1 192.0.2.2': [1, at + 30_000, false] });
    expect(await seen(at + 59_999, ['192.0.2.1'])).toEqual({ 'k1 192.0.2.1': [1, at + 59_999, true] });
    // A minute after the last time it was moved: moved again.
    expect(await seen(at + 60_000, ['192.0.2.1', '192.0.2.2'])).toEqual({ 'k1 192.0.2.1': [1, at + 60_000, false], 'k1 192.0.2.2': [1, at + 60_000, true] });
    // A batch whose write failed is sent again as it was (moving the time), before the next one (which keeps it).
    sink.failures = 1;
    buffer.record(buildUsageEvent({ at: at + 130_000, ip: '192.0.2.2' }));
    await buffer.flush();
    expect(sink.batches).toHaveLength(4);
    expect(await seen(at + 131_000, ['192.0.2.2'])).toEqual({ 'k1 192.0.2.2': [1, at + 131_000, true] });
    expect(pairs(sink.batches[4])).toEqual({ 'k1 192.0.2.2': [1, at + 130_000, false] });
  });

  it('remembers at most 100,000 pairs (the oldest forgotten first)', async () => {
    const sink = new MemorySink();
    const buffer = new UsageBuffer(sink, { limits: { maxClientAddresses: 200_000, maxLogRows: 0 }, onDropped: () => undefined });
    const ip = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    // 100,001 pairs at one time (none goes stale): the first one written is forgotten.
    for (let i = 0; i <= 100_000; i++) buffer.record(buildUsageEvent({ at, ip: ip(i) }));
    await buffer.flush();
    buffer.record(buildUsageEvent({ at: at + 1, ip: ip(0) }));
    buffer.record(buildUsageEvent({ at: at + 1, ip: ip(1) }));
    await buffer.flush();
    expect(pairs(sink.batches[1])).toEqual({ [`k1 ${ip(0)}`]: [1, at + 1, false], [`k1 ${ip(1)}`]: [1, at + 1, true] });
  });
});
