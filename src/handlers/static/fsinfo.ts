import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';

export type FileInfo =
  | { readonly kind: 'file'; readonly size: number; readonly mtimeMs: number; readonly ino: number }
  | { readonly kind: 'dir'; readonly mtimeMs: number }
  /** Missing, unreadable, a special file, or a symlink escaping the root: all answered 404. */
  | { readonly kind: 'none' };

const NONE: FileInfo = Object.freeze({ kind: 'none' });

/** How long a stat result is trusted without asking the disk again (watchers usually drop it sooner). */
export const STAT_TTL_MS = 1000;

/**
 * stat() + realpath containment, cached for STAT_TTL_MS, with concurrent lookups of one path shared.
 * The containment check is what keeps symlinks from leading outside the root.
 */
export class StatCache {
  readonly #realRoot: string;
  readonly #followSymlinks: boolean;
  readonly #entries = new Map<string, { info: FileInfo; at: number }>();
  readonly #pending = new Map<string, Promise<FileInfo>>();
  readonly #max: number;

  constructor(realRoot: string, followSymlinks: boolean, max = 10_000) {
    this.#realRoot = realRoot;
    this.#followSymlinks = followSymlinks;
    this.#max = max;
  }

  lookup(path: string): Promise<FileInfo> {
    const hit = this.#entries.get(path);
    if (hit !== undefined && Date.now() - hit.at < STAT_TTL_MS) return Promise.resolve(hit.info);
    let pending = this.#pending.get(path);
    if (pending === undefined) {
      pending = this.#load(path).then((info) => {
        this.#pending.delete(path);
        if (this.#entries.size >= this.#max) this.#entries.clear();
        this.#entries.set(path, { info, at: Date.now() });
        return info;
      });
      this.#pending.set(path, pending);
    }
    return pending;
  }

  forget(path: string): void {
    this.#entries.delete(path);
  }

  forgetUnder(dir: string): void {
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    for (const key of this.#entries.keys()) if (key === dir || key.startsWith(prefix)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  async #load(path: string): Promise<FileInfo> {
    try {
      const st = await stat(path);
      if (!this.#followSymlinks && !this.#inside(await realpath(path))) return NONE;
      if (st.isFile()) return { kind: 'file', size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
      if (st.isDirectory()) return { kind: 'dir', mtimeMs: st.mtimeMs };
      return NONE;
    } catch {
      return NONE;
    }
  }

  #inside(real: string): boolean {
    const root = this.#realRoot;
    return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
  }
}
