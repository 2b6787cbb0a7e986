import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeEntry, encodeEntry, type CacheEntry } from '../entry.js';
import type { CacheStore, StoreStats } from './store.js';

/**
 * Entries as files under one directory: `<dir>/<2 hex>/<sha256 of key>`, written to `<dir>/tmp`
 * and renamed into place (a crash never leaves a half-written entry where a reader finds it).
 * The index (name → size, in LRU order) lives in memory and is rebuilt from the directory on
 * open, oldest modification first, so the cache survives a restart. Several worker processes may
 * share a directory: reads go to the file, each keeps its own index for eviction, so the bound
 * holds per process (N workers: at most N × max_size in the worst case).
 */
export class DiskStore implements CacheStore {
  readonly kind = 'disk';
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** hash → file size; Map order is recency (least recent first). */
  readonly #index = new Map<string, number>();
  #bytes = 0;
  #tmpCounter = 0;

  private constructor(dir: string, maxBytes: number, now: () => number) {
    this.#dir = dir;
    this.#maxBytes = maxBytes;
    this.#now = now;
  }

  static async open(dir: string, maxBytes: number, now: () => number = Date.now): Promise<DiskStore> {
    const store = new DiskStore(dir, maxBytes, now);
    await store.#rebuild();
    return store;
  }

  async #rebuild(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    // Leftovers of writes interrupted by a crash (old ones only: another worker may be writing).
    const tmpDir = join(this.#dir, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    for (const name of await readdir(tmpDir)) {
      const path = join(tmpDir, name);
      const info = await stat(path).catch(() => null);
      if (info !== null && info.mtimeMs < Date.now() - 60_000) await rm(path, { force: true });
    }
    const found: Array<{ name: string; size: number; mtime: number }> = [];
    for (const sub of await readdir(this.#dir)) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      for (const name of await readdir(join(this.#dir, sub))) {
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        try {
          const info = await stat(join(this.#dir, sub, name));
          found.push({ name, size: info.size, mtime: info.mtimeMs });
        } catch {
          // removed meanwhile
        }
      }
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      this.#index.set(f.name, f.size);
      this.#bytes += f.size;
    }
    await this.#evict();
  }

  #path(hash: string): string {
    return join(this.#dir, hash.slice(0, 2), hash);
  }

  async get(key: string): Promise<CacheEntry | null> {
    const hash = hashKey(key);
    // The file is read even when the index does not know it: other worker processes sharing the
    // directory write entries too (the index is this process's view, for eviction).
    let data: Buffer;
    try {
      data = await readFile(this.#path(hash));
    } catch {
      if (this.#index.has(hash)) this.#forget(hash);
      return null;
    }
    const entry = decodeEntry(data);
    if (entry === null || entry.expiresAt <= this.#now()) {
      await this.#drop(hash, true);
      return null;
    }
    if (entry.key !== key) return null; // a sha256 collision: treat as a miss
    const size = this.#index.get(hash);
    if (size !== undefined) this.#index.delete(hash);
    else this.#bytes += data.length;
    this.#index.set(hash, size ?? data.length);
    return entry;
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    const data = encodeEntry(entry);
    if (data.length > this.#maxBytes) return;
    const hash = hashKey(key);
    const tmp = join(this.#dir, 'tmp', `${hash}.${process.pid}.${++this.#tmpCounter}`);
    const final = this.#path(hash);
    try {
      await writeFile(tmp, data);
      try {
        await rename(tmp, final);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        await mkdir(join(this.#dir, hash.slice(0, 2)), { recursive: true });
        await rename(tmp, final);
      }
    } catch (err) {
      // Disk full, quota, read-only: nothing half-written stays behind; the caller logs why, and
      // the response it was storing has already gone to the client.
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const old = this.#index.get(hash);
    if (old !== undefined) {
      this.#bytes -= old;
      this.#index.delete(hash);
    }
    this.#index.set(hash, data.length);
    this.#bytes += data.length;
    await this.#evict();
  }

  async delete(key: string): Promise<boolean> {
    const hash = hashKey(key);
    this.#forget(hash);
    try {
      await unlink(this.#path(hash));
      return true;
    } catch {
      return false;
    }
  }

  async clear(): Promise<void> {
    const hashes = [...this.#index.keys()];
    for (const hash of hashes) await this.#drop(hash);
  }

  stats(): StoreStats {
    return { entries: this.#index.size, bytes: this.#bytes, maxBytes: this.#maxBytes };
  }

  async close(): Promise<void> {
    this.#index.clear();
    this.#bytes = 0;
  }

  #forget(hash: string): void {
    const size = this.#index.get(hash);
    if (size === undefined) return;
    this.#index.delete(hash);
    this.#bytes -= size;
  }

  /** Forgets an entry and removes its file (`always`: even when this process did not index it). */
  async #drop(hash: string, always = false): Promise<void> {
    if (!this.#index.has(hash) && !always) return;
    this.#forget(hash);
    await unlink(this.#path(hash)).catch(() => undefined);
  }

  async #evict(): Promise<void> {
    while (this.#bytes > this.#maxBytes && this.#index.size > 0) {
      const oldest = this.#index.keys().next().value as string;
      await this.#drop(oldest);
    }
  }
}

function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
