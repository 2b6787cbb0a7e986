import assert from 'node:assert/strict';
import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchConfigFile } from '../../../src/config/index.js';

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'anomaly-watch-'));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('watchConfigFile', () => {
  it('reports a burst of writes once, ignores other files, and survives replace-by-rename', async () => {
    await withDir(async (dir) => {
      const file = join(dir, 'anomaly.yaml');
      await writeFile(file, 'a: 1\n');
      let calls = 0;
      const watcher = watchConfigFile(file, () => calls++, { debounceMs: 50 });
      try {
        await sleep(50);
        await writeFile(file, 'a: 2\n');
        await writeFile(file, 'a: 3\n');
        await writeFile(file, 'a: 4\n');
        await sleep(300);
        assert.equal(calls, 1);

        await writeFile(join(dir, 'other.txt'), 'x');
        await sleep(300);
        assert.equal(calls, 1);

        // What editors do: write a temporary file, then rename it over the config.
        await writeFile(join(dir, '.anomaly.yaml.tmp'), 'a: 5\n');
        await rename(join(dir, '.anomaly.yaml.tmp'), file);
        await sleep(300);
        assert.equal(calls, 2);

        // Gone for a while: no call; back again: one call.
        await unlink(file);
        await sleep(300);
        assert.equal(calls, 2);
        await writeFile(file, 'a: 6\n');
        await sleep(300);
        assert.equal(calls, 3);
      } finally {
        watcher.close();
      }
      await writeFile(file, 'a: 7\n');
      await sleep(200);
      assert.equal(calls, 3);
    });
  });
});
