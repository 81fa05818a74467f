/**
 * What the guard keeps of a request fits the columns that store it: client text cleaned and cut
 * (see storable()), a latency that fits the request log's 32-bit column.
 */
import { requestFacts } from '../../packages/guard/src/middleware/attempt';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';

const key = { id: 'k1', tenantId: 't1' } as ApiKeyRecord;

describe('requestFacts', () => {
  it('keeps a latency within the request log\'s 32-bit column, and never below 0', () => {
    const startedAt = Date.UTC(2026, 0, 1);
    const facts = (at: number) => requestFacts(key, { ip: '192.0.2.1', startedAt }, at, 200).latencyMs;
    expect(facts(startedAt + 1234)).toBe(1234);
    expect(facts(startedAt + 30 * 86_400_000)).toBe(2_147_483_647);
    expect(facts(startedAt - 5)).toBe(0);
  });

  it('removes NUL characters and replaces unpaired surrogates in client text, and cuts it', () => {
    const facts = requestFacts(key, { ip: '192.0.2.1', startedAt: 0, model: 'gpt\u0000-4\uD800', userAgent: 'x'.repeat(5000) }, 1, 200);
    expect(facts.model).toBe('gpt-4\uFFFD');
    expect((facts.userAgent ?? '').length).toBeLessThan(5000);
  });
});
