import { generateKey } from '../../packages/guard/src/keys/key-format';
import { KeyHasher } from '../../packages/guard/src/keys/key-hasher';
import { cachedKeyStore } from '../../packages/guard/src/middleware/key-store';
import { buildKeyRecord } from '../helpers/key-record';

const makeRecord = () => buildKeyRecord({ key: generateKey('kw').key }, new KeyHasher({ 1: 'x'.repeat(32) }));

describe('cachedKeyStore stats()', () => {
  it('counts a peek or lookup the cache answers as a hit, and each trip to the store as a miss', async () => {
    const record = makeRecord();
    let fetches = 0;
    let release: () => void = () => undefined;
    const store = cachedKeyStore({
      findKey: async (id) => {
        fetches += 1;
        await new Promise<void>((resolve) => (release = resolve));
        return id === record.id ? record : null;
      },
    });
    expect(store.stats()).toEqual({ hits: 0, misses: 0, size: 0 });
    expect(store.peek(record.id)).toBeUndefined(); // not a miss: the caller asks findKey next
    const first = store.findKey(record.id);
    const joined = store.findKey(record.id); // joins the lookup on its way
    release();
    await Promise.all([first, joined]);
    expect({ fetches, ...store.stats() }).toEqual({ fetches: 1, hits: 0, misses: 2, size: 1 });
    expect(store.peek(record.id)).toBe(record);
    expect(await store.findKey(record.id)).toBe(record);
    const unknown = store.findKey('AAAAAAAAAAAA');
    release();
    expect(await unknown).toBeNull();
    expect(store.peek('AAAAAAAAAAAA')).toBeNull(); // a known-unknown id is a hit
    expect(store.stats()).toEqual({ hits: 3, misses: 3, size: 2 });
  });

  it('counts every lookup as a miss while the cache is bypassed', async () => {
    const record = makeRecord();
    const store = cachedKeyStore({ findKey: async () => record }, { bypass: () => true });
    await store.findKey(record.id);
    await store.findKey(record.id);
    expect(store.peek(record.id)).toBeUndefined();
    expect(store.stats()).toEqual({ hits: 0, misses: 2, size: 0 });
  });
});
