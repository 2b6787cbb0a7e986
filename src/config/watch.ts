import { watch, type FSWatcher } from 'node:fs';
import { access } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';

export interface ConfigWatcher {
  close(): void;
}

/**
 * Calls onChange when the config file changes. Watches the directory, not the file: editors save
 * by writing a new file and renaming it over the old one, which a watch on the file itself misses.
 * Events are debounced (one save is several events); while the file is missing (mid-replace) no
 * call is made, and the event of its return triggers one.
 */
export function watchConfigFile(path: string, onChange: () => void, options: { debounceMs?: number } = {}): ConfigWatcher {
  const file = resolve(path);
  const name = basename(file);
  const delay = options.debounceMs ?? 100;
  let timer: NodeJS.Timeout | null = null;
  let closed = false;

  const fire = () => {
    timer = null;
    access(file).then(
      () => {
        if (!closed) onChange();
      },
      () => {
        /* gone for now: its reappearance is another event */
      },
    );
  };

  const watcher: FSWatcher = watch(dirname(file), { persistent: true }, (_event, changed) => {
    // Some platforms do not report the name; then any change in the directory counts.
    if (closed || (changed !== null && changed !== undefined && changed.toString() !== name)) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(fire, delay);
  });
  // The directory itself may vanish; a watcher error must not crash the server.
  watcher.on('error', () => close());

  function close(): void {
    if (closed) return;
    closed = true;
    if (timer !== null) clearTimeout(timer);
    watcher.close();
  }
  return { close };
}
