import { cachedKeyStore } from '../../packages/guard/src/middleware/key-store';
import type { ApiKeyRecord } from '../../packages/guard/src/keys/key-types';

const record = (id: string) => ({ id }) as unknown as ApiKeyRecord;

function countingStore(known: Set<string>) {
  const reads: string[][] = [];
  return {
    reads,
    store: {
      findKey: async (id: string) => (known.has(id) ? record(id) : null),
      findKeys: async (ids: readonly string[]) => {
        reads.push([...ids]);
        return ids.filter((id) => known.has(id)).map(record);
      },
    },
  };
}

describe('cachedKeyStore misses', () => {
  it('reads the misses of one tick in one batch, and concurrent misses of one id once', async () => {
    const known = new Set(Array.from({ length: 50 }, (_, i) => `k${i}`));
    const { reads, store } = countingStore(known);
    const cache = cachedKeyStore(store);
    const ids = [...known, 'k1', 'k1', 'unknown'];
    const found = await Promise.all(ids.map((id) => cache.findKey(id)));
    expect(found.filter(Boolean)).toHaveLength(52);
    expect(found[found.length - 1]).toBeNull();
    expect(reads).toHaveLength(1);
    expect(new Set(reads[0]).size).toBe(reads[0].length);
    expect(reads[0]).toHaveLength(51);
    // Cached now, the unknown id as unknown: no further read.
    expect(cache.peek('k7')?.id).toBe('k7');
    expect(cache.peek('unknown')).toBeNull();
    await cache.findKey('k8');
    expect(reads).toHaveLength(1);
  });

  it('splits a burst into reads of batchMax ids and rejects each waiter when a read fails', async () => {
    const known = new Set(Array.from({ length: 25 }, (_, i) => `k${i}`));
    const { reads, store } = countingStore(known);
    const cache = cachedKeyStore(store, { batchMax: 10 });
    await Promise.all([...known].map((id) => cache.findKey(id)));
    expect(reads.map((r) => r.length)).toEqual([10, 10, 5]);

    const failing = cachedKeyStore({ findKey: async () => null, findKeys: async () => Promise.reject(new Error('database down')) });
    await expect(Promise.all([failing.findKey('a'), failing.findKey('b')])).rejects.toThrow('database down');
    // Nothing cached from a failed read.
    expect(failing.peek('a')).toBeUndefined();
  });

  it('does not cache a read that raced a key change', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const cache = cachedKeyStore({
      findKey: async () => null,
      findKeys: async (ids) => {
        await gate;
        return ids.map(record);
      },
    });
    const pending = cache.findKey('k1');
    await new Promise((resolve) => setImmediate(resolve));
    cache.invalidate('k1');
    release();
    expect((await pending)?.id).toBe('k1');
    expect(cache.peek('k1')).toBeUndefined();
  });
});
