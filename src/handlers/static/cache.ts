import { watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { ResponseHeaders } from '../../core/response.js';
import type { Coding } from './encoding.js';
import type { Validators } from './conditional.js';

/** One representation of a cached file (identity, or an encoded variant) with its ready-made headers. */
export interface Variant {
  readonly coding: Coding;
  readonly bytes: Buffer;
  readonly validators: Validators;
  readonly lastModified: string;
  /** Frozen, shared by every 200 answer of this variant. */
  readonly headers200: Readonly<ResponseHeaders>;
  /** Frozen, shared by every 304 answer of this variant. */
  readonly headers304: Readonly<ResponseHeaders>;
  /** Precompressed siblings are real files and may serve ranges; on-the-fly output may not. */
  readonly rangeable: boolean;
}

export interface CachedFile {
  readonly fsPath: string;
  readonly dir: string;
  readonly contentType: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly identity: Variant;
  readonly br: Variant | null;
  readonly gzip: Variant | null;
  /** Bytes held, all variants together. */
  readonly cost: number;
  /** Paths whose change invalidates this entry: the file and its precompressed siblings. */
  readonly watched: readonly string[];
  /** Date.now() of the last check against the disk. */
  checkedAt: number;
  checking: boolean;
  /** CLOCK bit: set on every hit, cleared by the eviction sweep. */
  ref: boolean;
}

/** Max directories watched; beyond it the once-per-second stat check alone keeps entries fresh. */
const MAX_WATCHED_DIRS = 1024;

/**
 * Small files in memory, keyed by the raw request path (so a hit needs no decoding or stat),
 * bounded by total bytes with CLOCK eviction (a bit set per hit, cheaper than LRU reordering).
 * Invalidated by fs.watch on the directories of cached files, and by the caller's periodic stat.
 */
export class MemoryCache {
  readonly #entries = new Map<string, CachedFile>();
  /** file or sibling path -> raw keys of entries that depend on it */
  readonly #byPath = new Map<string, Set<string>>();
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #maxSize: number;
  readonly #onChange: (path: string | null, dir: string) => void;
  #used = 0;
  #disposed = false;

  /** `onChange` lets the owner drop its own per-path state (stat cache) on the same events. */
  constructor(maxSize: number, onChange: (path: string | null, dir: string) => void = () => {}) {
    this.#maxSize = maxSize;
    this.#onChange = onChange;
  }

  get(key: string): CachedFile | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#used;
  }

  get watchedDirs(): number {
    return this.#watchers.size;
  }

  /** Whether an entry of this cost can ever be kept. */
  fits(cost: number): boolean {
    return !this.#disposed && cost <= this.#maxSize;
  }

  set(key: string, entry: CachedFile): void {
    if (!this.fits(entry.cost)) return;
    this.delete(key);
    this.#used += entry.cost;
    while (this.#used > this.#maxSize) this.#evictOne();
    this.#entries.set(key, entry);
    for (const p of entry.watched) {
      let keys = this.#byPath.get(p);
      if (keys === undefined) this.#byPath.set(p, (keys = new Set()));
      keys.add(key);
    }
  }

  delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#used -= entry.cost;
    for (const p of entry.watched) {
      const keys = this.#byPath.get(p);
      if (keys === undefined) continue;
      keys.delete(key);
      if (keys.size === 0) this.#byPath.delete(p);
    }
  }

  /** Drops every entry built from `path` (a file or one of its precompressed siblings). */
  invalidatePath(path: string): void {
    const keys = this.#byPath.get(path);
    if (keys === undefined) return;
    for (const key of [...keys]) this.delete(key);
  }

  invalidateDir(dir: string): void {
    for (const [key, entry] of this.#entries) if (entry.dir === dir) this.delete(key);
  }

  #evictOne(): void {
    // CLOCK: walk in insertion order; recently hit entries get a second chance at the back.
    for (const [key, entry] of this.#entries) {
      if (entry.ref) {
        entry.ref = false;
        this.#entries.delete(key);
        this.#entries.set(key, entry);
        continue;
      }
      this.delete(key);
      return;
    }
  }

  /** Starts watching a directory (before its files are read, so no change slips between). */
  watchDir(dir: string): void {
    if (this.#disposed || this.#watchers.has(dir) || this.#watchers.size >= MAX_WATCHED_DIRS) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: false }, (_event, filename) => {
        if (filename === null || filename === undefined) {
          this.invalidateDir(dir);
          this.#onChange(null, dir);
          return;
        }
        const path = join(dir, filename.toString());
        this.invalidatePath(path);
        this.#onChange(path, dir);
      });
    } catch {
      return; // no watcher (limits, odd filesystems): the periodic stat still applies
    }
    watcher.on('error', () => {
      watcher.close();
      this.#watchers.delete(dir);
      this.invalidateDir(dir);
    });
    this.#watchers.set(dir, watcher);
  }

  dispose(): void {
    this.#disposed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    this.#entries.clear();
    this.#byPath.clear();
    this.#used = 0;
  }
}
