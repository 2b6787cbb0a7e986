import { randomBytes } from 'node:crypto';
import { link, rename, unlink, writeFile } from 'node:fs/promises';

/**
 * File writes that other processes never see half done. Several anomaly processes (workers, a second
 * `serve`) may start at the same moment and race to create the same files.
 */

function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/** Writes `data` to `path` atomically, replacing any previous file (last writer wins). */
export async function replaceFile(path: string, data: string, mode: number): Promise<void> {
  const tmp = tempPathFor(path);
  await writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/**
 * Creates `path` with `data` only if it does not exist yet (first writer wins), atomically.
 * Returns true when this call created the file, false when another writer had already done so.
 * A hard link is the no-clobber counterpart of rename: it fails with EEXIST instead of replacing.
 */
export async function createFileExclusive(path: string, data: string, mode: number): Promise<boolean> {
  const tmp = tempPathFor(path);
  await writeFile(tmp, data, { mode, flag: 'wx' });
  try {
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      // File systems without hard links: exclusive create, at the cost of a brief window where a
      // reader could see a partial file (readers treat an unparsable file as "not there yet").
      try {
        await writeFile(path, data, { mode, flag: 'wx' });
        return true;
      } catch (err2) {
        if ((err2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw err2;
      }
    }
    throw err;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}
