import type { CacheEntry } from '../entry.js';

/** Counts a store can report cheaply (null fields when it cannot, e.g. a shared Redis). */
export interface StoreStats {
  readonly entries: number | null;
  readonly bytes: number | null;
  readonly maxBytes: number | null;
}

/**
 * Where a cache zone keeps entries. Every method may answer synchronously (the memory store
 * does, so a hit costs no promise) or with a promise (disk, Redis); callers handle both.
 *
 * Contract (tests/unit/cache/store-contract.ts runs it against every store):
 * - get() returns an entry equal to the one set under that key, or null; never one whose
 *   expiresAt has passed; never throws (a broken backend reads as a miss).
 * - set() replaces any entry under the key; it may drop entries to stay within its size bound
 *   (least recently used first) and may refuse an entry larger than that bound.
 * - delete() answers whether something was removed; clear() removes everything.
 * - close() releases connections and file handles; the store is unusable afterwards.
 */
export interface CacheStore {
  readonly kind: string;
  get(key: string): CacheEntry | null | Promise<CacheEntry | null>;
  set(key: string, entry: CacheEntry): void | Promise<void>;
  delete(key: string): boolean | Promise<boolean>;
  clear(): void | Promise<void>;
  stats(): StoreStats;
  close(): Promise<void>;
}
