import type { CacheEntry } from './entry.js';
import type { CacheStore, StoreStats } from './stores/store.js';

/** What a finished origin fetch left for the requests that waited on it. */
export interface FillResult {
  readonly entry: CacheEntry;
  /** The Vary values the entry was stored under (null when it does not vary). */
  readonly varyValues: string | null;
}

/**
 * One origin fetch in progress for a key; later requests for the key wait on `done` instead of
 * fetching too (request coalescing). Kept briefly after it settles, because with an async store a
 * request may have missed just before the entry landed.
 */
export class Fill {
  readonly done: Promise<FillResult | null>;
  settled = false;
  result: FillResult | null = null;
  #resolve!: (result: FillResult | null) => void;

  constructor() {
    this.done = new Promise((resolve) => {
      this.#resolve = resolve;
    });
  }

  /** `persisted`: the store write still under way; the fill answers late misses until it lands. */
  settle(result: FillResult | null, persisted?: Promise<unknown> | void): void {
    if (this.settled) return;
    this.settled = true;
    this.result = result;
    this.persisted = persisted instanceof Promise ? persisted : null;
    this.#resolve(result);
  }

  persisted: Promise<unknown> | null = null;
}

/**
 * A named cache: a store plus the fills in flight. Routes that name the same zone share both.
 * The purge functions are what the PURGE method and the admin API call.
 */
export class CacheZone {
  readonly name: string;
  readonly store: CacheStore;
  readonly #fills = new Map<string, Fill>();
  /** Told about every purge (key null: clear), so other worker processes can drop their copy. */
  readonly #onPurge: ((zone: string, key: string | null) => void) | null;

  constructor(name: string, store: CacheStore, onPurge: ((zone: string, key: string | null) => void) | null = null) {
    this.name = name;
    this.store = store;
    this.#onPurge = onPurge;
  }

  /** The fill in flight (or just settled) for `key`, if any. */
  fill(key: string): Fill | undefined {
    return this.#fills.get(key);
  }

  /** Registers a new fill for `key`; the caller must settle it. */
  beginFill(key: string): Fill {
    const fill = new Fill();
    this.#fills.set(key, fill);
    const remove = () => {
      if (this.#fills.get(key) === fill) this.#fills.delete(key);
    };
    // With an async store (disk, Redis) a request may miss just before the write lands: the
    // settled fill keeps answering until then. A sync store has the entry at once.
    void fill.done.then(() => (fill.persisted === null ? remove() : fill.persisted.then(remove, remove)));
    return fill;
  }

  /** Removes the entry stored under an exact cache key (a Vary marker takes its variants along). */
  async purge(key: string): Promise<boolean> {
    this.#onPurge?.(this.name, key);
    return await this.purgeHere(key);
  }

  /** Removes every entry of this zone. */
  async clear(): Promise<void> {
    this.#onPurge?.(this.name, null);
    await this.clearHere();
  }

  /** purge() without telling other processes (applying a purge another worker made). */
  async purgeHere(key: string): Promise<boolean> {
    const fill = this.#fills.get(key);
    if (fill !== undefined && fill.settled) this.#fills.delete(key);
    return await this.store.delete(key);
  }

  async clearHere(): Promise<void> {
    for (const [key, fill] of this.#fills) if (fill.settled) this.#fills.delete(key);
    await this.store.clear();
  }

  stats(): StoreStats & { readonly name: string; readonly kind: string; readonly fillsInFlight: number } {
    return { name: this.name, kind: this.store.kind, fillsInFlight: this.#fills.size, ...this.store.stats() };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
