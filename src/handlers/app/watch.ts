import { unwatchFile, watch, watchFile, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '../../core/logger.js';

export interface FileWatcher {
  close(): void;
}

/**
 * Calls onChange (debounced) when `file` may have changed. Watches the directory, filtered by
 * name: editors often save by writing a temporary file and renaming it over the original, which
 * a watch on the file itself stops seeing after the first save. The callback reads the file and
 * decides; a missing file (mid-rename) is simply another event later. If the platform refuses a
 * directory watch (inotify limits), falls back to polling.
 */
export function watchAppFile(file: string, onChange: () => void, logger: Logger, debounceMs = 50): FileWatcher {
  const name = basename(file);
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  let watcher: FSWatcher | null = null;
  let polling = false;

  const trigger = (): void => {
    if (closed) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      if (!closed) onChange();
    }, debounceMs);
  };

  const poll = (): void => {
    polling = true;
    watchFile(file, { interval: 250, persistent: false }, trigger);
  };

  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      // Some platforms do not report the name; then any change in the directory counts.
      if (changed !== null && changed !== undefined && changed.toString() !== name) return;
      trigger();
    });
    watcher.on('error', (err) => {
      logger.warn({ app: file, err: String(err) }, `app ${file}: directory watch failed, polling instead`);
      watcher?.close();
      watcher = null;
      if (!closed && !polling) poll();
    });
  } catch (err) {
    logger.warn({ app: file, err: String(err) }, `app ${file}: cannot watch the directory, polling instead`);
    poll();
  }

  return {
    close(): void {
      if (closed) return;
      closed = true;
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
      if (polling) unwatchFile(file, trigger);
    },
  };
}
