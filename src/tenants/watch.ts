/** Watches the tenant files of the running config; the set follows the config across reloads. */
import { watchConfigFile, type ConfigWatcher } from '../config/index.js';

export class TenantFileWatchers {
  readonly #watchers = new Map<string, ConfigWatcher>();
  readonly #onChange: () => void;
  #closed = false;

  constructor(onChange: () => void) {
    this.#onChange = onChange;
  }

  /** Watches exactly `files` from now on. */
  sync(files: readonly string[]): void {
    if (this.#closed) return;
    const wanted = new Set(files);
    for (const [path, w] of this.#watchers) {
      if (wanted.has(path)) continue;
      w.close();
      this.#watchers.delete(path);
    }
    for (const path of wanted) if (!this.#watchers.has(path)) this.#watchers.set(path, watchConfigFile(path, this.#onChange));
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}
