/**
 * The pyodide memory snapshot on disk, so that only the first server start on a machine pays the full
 * boot (1.5–5 s): later processes start their first worker from the file (≈0.5 s).
 *
 * <tmp>/anomaly-pyodide-<user>/<hash>.snap, the hash covering the pyodide version and the sources
 * imported before the snapshot (bindings/python/anomaly.py, runtimes/python/host.py). The folder is
 * created 0700 and a file is used only when it belongs to this user and nobody else can write it:
 * a snapshot is code. Written to a temporary name and renamed, so readers never see half a file.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9_-]/g, '_');
  } catch {
    return String(process.getuid?.() ?? 'user');
  }
}

export class SnapshotCache {
  readonly file: string;

  constructor(pyodideVersion: string, sources: readonly string[], dir = join(tmpdir(), `anomaly-pyodide-${safeUser()}`)) {
    const hash = createHash('sha256').update('snapshot-v1').update(pyodideVersion);
    for (const s of sources) hash.update('\0').update(s);
    this.dir = dir;
    this.file = join(dir, `${hash.digest('hex').slice(0, 20)}.snap`);
  }

  private readonly dir: string;

  /** The cached snapshot, or null (none, not ours, or unreadable). */
  read(): Uint8Array | null {
    try {
      const st = statSync(this.file);
      const mine = process.getuid === undefined || st.uid === process.getuid();
      if (!mine || (st.mode & 0o022) !== 0) return null;
      const buf = readFileSync(this.file);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch {
      return null;
    }
  }

  /** Writes in the background (30 MB: not on the event loop's time). */
  async write(snapshot: Uint8Array): Promise<void> {
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(tmp, snapshot, { mode: 0o600 });
      await rename(tmp, this.file);
    } catch {
      await rm(tmp, { force: true }); // a cache: failing to write it only costs the next start time
    }
  }

  /** Forgets a snapshot that did not start. */
  drop(): void {
    rmSync(this.file, { force: true });
  }
}
