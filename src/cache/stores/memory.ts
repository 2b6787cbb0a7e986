import { entrySize, type CacheEntry } from '../entry.js';
import type { CacheStore, StoreStats } from './store.js';

interface Slot {
  entry: CacheEntry;
  size: number;
  /** Value of the store's clock when the slot last moved to the recent end. */
  tick: number;
}

/**
 * In-process store: a Map used as an LRU list (insertion order = recency), bounded by bytes.
 * Recency is tracked exactly except among the most recently moved quarter (see get()).
 * Entries are kept as objects (no serialisation), so a hit returns the frozen entry itself.
 */
export class MemoryStore implements CacheStore {
  readonly kind = 'memory';
  readonly #maxBytes: number;
  readonly #slots = new Map<string, Slot>();
  #bytes = 0;
  #clock = 0;
  readonly #now: () => number;

  constructor(maxBytes: number, now: () => number = Date.now) {
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  get(key: string): CacheEntry | null {
    const slot = this.#slots.get(key);
    if (slot === undefined) return null;
    if (slot.entry.expiresAt <= this.#now()) {
      this.#remove(key, slot);
      return null;
    }
    // Move to the most recent end, unless it moved there recently (within the last quarter of the
    // entries' moves): a hot key is not re-inserted on every hit, which costs two hash operations
    // and Map churn. Eviction order stays exact for the older three quarters, where victims are.
    if (this.#clock - slot.tick > this.#slots.size >> 2) {
      this.#slots.delete(key);
      this.#slots.set(key, slot);
      slot.tick = ++this.#clock;
    }
    return slot.entry;
  }

  set(key: string, entry: CacheEntry): void {
    const size = entrySize(entry);
    const old = this.#slots.get(key);
    if (old !== undefined) this.#remove(key, old);
    if (size > this.#maxBytes) return;
    this.#slots.set(key, { entry, size, tick: ++this.#clock });
    this.#bytes += size;
    if (this.#bytes > this.#maxBytes) this.#evict();
  }

  delete(key: string): boolean {
    const slot = this.#slots.get(key);
    if (slot === undefined) return false;
    this.#remove(key, slot);
    return true;
  }

  clear(): void {
    this.#slots.clear();
    this.#bytes = 0;
  }

  stats(): StoreStats {
    return { entries: this.#slots.size, bytes: this.#bytes, maxBytes: this.#maxBytes };
  }

  async close(): Promise<void> {
    this.clear();
  }

  #remove(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#bytes -= slot.size;
  }

  /** Drops least recently used entries (expired ones first met on the way) until within the bound. */
  #evict(): void {
    for (const [key, slot] of this.#slots) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#remove(key, slot);
    }
  }
}
