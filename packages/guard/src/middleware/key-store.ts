/**
 * Where the middleware finds keys. The app's store reads the database; cachedKeyStore() puts a
 * bounded in-process cache in front of any store, and drops entries the moment the key service
 * reports a change (so the very next request sees it).
 */
import { LRUCache } from 'lru-cache';
import type { KeyEventBus } from '../keys/key-events';
import type { ApiKeyRecord } from '../keys/key-types';

/** Looks keys up by their public id. */
export interface KeyStore {
  findKey(id: string): Promise<ApiKeyRecord | null>;
  /**
   * Optional: several keys in one read (those that exist, in any order). The cache gathers the
   * misses of one tick into one call, so a burst of cold keys costs a few reads, not one each.
   */
  findKeys?(ids: readonly string[]): Promise<ApiKeyRecord[]>;
  /** Optional: a synchronous cache answer (undefined when not cached), to skip a promise on hits. */
  peek?(id: string): ApiKeyRecord | null | undefined;
}

export interface KeyCacheOptions {
  /** Key changes to listen to; without it, entries live until their TTL. */
  events?: KeyEventBus;
  /**
   * Most keys kept (default 200,000: a record and its prepared state take about 2 KB, so about
   * 400 MB at most; see README, Key cache).
   */
  max?: number;
  /**
   * How long a found key is trusted without asking the store again (default 10 minutes). Key
   * changes reach the cache through `events` at once (and other processes' changes through the
   * app's change feed within a second): the TTL only bounds changes made outside Keyward.
   */
  ttlMs?: number;
  /** Most ids read in one findKeys() call (default 500). */
  batchMax?: number;
  /** How long an unknown id is remembered as unknown (default 5 s). */
  negativeTtlMs?: number;
  /**
   * When it returns true the cache is not trusted and every lookup asks the store (e.g. while
   * this instance cannot hear other instances' key changes).
   */
  bypass?: () => boolean;
}

const MISSING = Symbol('missing');
type Entry = ApiKeyRecord | typeof MISSING;

/** What the cache answered since it was created (for an app's metrics). */
export interface KeyCacheStats {
  /** Lookups the cache answered, known-unknown ids included. */
  hits: number;
  /** Lookups it could not answer: the store was asked (or a lookup already on its way was joined). */
  misses: number;
  /** Entries held now. */
  size: number;
}

/** A KeyStore with a bounded LRU cache (positive and negative) in front of `store`. */
export interface CachedKeyStore extends KeyStore {
  /** The cached answer without waiting: a key, null for a known-unknown id, undefined when not cached. */
  peek(id: string): ApiKeyRecord | null | undefined;
  invalidate(id: string): void;
  clear(): void;
  /** Hits and misses so far (plain counters: reading them costs nothing on the request path). */
  stats(): KeyCacheStats;
  /** Stops listening to key changes. */
  close(): void;
}

interface Waiting {
  id: string;
  startedAt: number;
  resolve(record: ApiKeyRecord | null): void;
  reject(error: unknown): void;
}

export function cachedKeyStore(store: KeyStore, options: KeyCacheOptions = {}): CachedKeyStore {
  const ttl = options.ttlMs ?? 600_000;
  const negativeTtl = options.negativeTtlMs ?? 5_000;
  const batchMax = options.batchMax ?? 500;
  const cache = new LRUCache<string, Entry>({ max: options.max ?? 200_000, ttl, ttlAutopurge: false });
  // Lookups on their way, by id: concurrent misses of one id share one read.
  const inFlight = new Map<string, Promise<ApiKeyRecord | null>>();
  // Misses of this tick, read together at its end (findKeys) when the store can.
  let waiting: Waiting[] = [];
  // Bumped on every invalidation, so a lookup that started before a change cannot cache stale data
  // (one counter for all ids keeps this bounded; a lookup racing any change just skips caching).
  let generation = 0;
  // A peek that finds nothing is not a miss: the caller then asks findKey(), which counts it.
  let hits = 0;
  let misses = 0;

  const invalidate = (id: string) => {
    cache.delete(id);
    inFlight.delete(id);
    generation += 1;
  };
  const unsubscribe = options.events?.subscribe((change) => invalidate(change.keyId));

  const remember = (id: string, record: ApiKeyRecord | null, startedAt: number) => {
    if (generation === startedAt) cache.set(id, record ?? MISSING, { ttl: record ? ttl : negativeTtl });
  };

  /** Reads the misses gathered this tick, batchMax ids per read. */
  const readWaiting = () => {
    const batch = waiting;
    waiting = [];
    for (let i = 0; i < batch.length; i += batchMax) {
      const part = batch.slice(i, i + batchMax);
      (store.findKeys as (ids: readonly string[]) => Promise<ApiKeyRecord[]>)(part.map((w) => w.id)).then(
        (records) => {
          const byId = new Map(records.map((r) => [r.id, r]));
          for (const w of part) {
            const record = byId.get(w.id) ?? null;
            remember(w.id, record, w.startedAt);
            w.resolve(record);
          }
        },
        (error: unknown) => {
          for (const w of part) w.reject(error);
        },
      );
    }
  };

  const lookUp = (id: string, startedAt: number): Promise<ApiKeyRecord | null> => {
    if (!store.findKeys) {
      return store.findKey(id).then((record) => {
        remember(id, record, startedAt);
        return record;
      });
    }
    return new Promise((resolve, reject) => {
      if (waiting.length === 0) setImmediate(readWaiting);
      waiting.push({ id, startedAt, resolve, reject });
    });
  };

  return {
    peek(id) {
      if (options.bypass?.()) return undefined;
      const hit = cache.get(id);
      if (hit === undefined) return undefined;
      hits += 1;
      return hit === MISSING ? null : hit;
    },
    async findKey(id) {
      if (options.bypass?.()) {
        misses += 1;
        return store.findKey(id);
      }
      const hit = cache.get(id);
      if (hit !== undefined) {
        hits += 1;
        return hit === MISSING ? null : hit;
      }
      misses += 1;
      const pending = inFlight.get(id);
      if (pending) return pending;
      const lookup = lookUp(id, generation).finally(() => {
        if (inFlight.get(id) === lookup) inFlight.delete(id);
      });
      inFlight.set(id, lookup);
      return lookup;
    },
    invalidate,
    clear: () => {
      for (const id of cache.keys()) invalidate(id);
    },
    stats: () => ({ hits, misses, size: cache.size }),
    close: () => unsubscribe?.(),
  };
}
