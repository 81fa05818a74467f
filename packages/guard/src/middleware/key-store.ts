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
  /** Optional: a synchronous cache answer (undefined when not cached), to skip a promise on hits. */
  peek?(id: string): ApiKeyRecord | null | undefined;
}

export interface KeyCacheOptions {
  /** Key changes to listen to; without it, entries live until their TTL. */
  events?: KeyEventBus;
  /** Most keys kept (default 10,000). */
  max?: number;
  /** How long a found key is trusted without asking the store again (default 30 s). */
  ttlMs?: number;
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

export function cachedKeyStore(store: KeyStore, options: KeyCacheOptions = {}): CachedKeyStore {
  const ttl = options.ttlMs ?? 30_000;
  const negativeTtl = options.negativeTtlMs ?? 5_000;
  const cache = new LRUCache<string, Entry>({ max: options.max ?? 10_000, ttl, ttlAutopurge: false });
  const inFlight = new Map<string, Promise<ApiKeyRecord | null>>();
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
      const startedAt = generation;
      const lookup = store
        .findKey(id)
        .then((record) => {
          if (generation === startedAt) {
            cache.set(id, record ?? MISSING, { ttl: record ? ttl : negativeTtl });
          }
          return record;
        })
        .finally(() => {
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
