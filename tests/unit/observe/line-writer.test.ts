import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { LineWriter } from '../../../src/observe/line-writer.js';
import { writesCanInterleave } from '../../../src/observe/logger.js';

const loggerUrl = new URL('../../../src/observe/logger.js', import.meta.url).href;

function target(): { fd: number; read: () => string } {
  const file = join(mkdtempSync(join(tmpdir(), 'anomaly-lw-')), 'out.log');
  const fd = openSync(file, 'a');
  return { fd, read: () => readFileSync(file, 'utf8') };
}

describe('LineWriter', () => {
  it('keeps order across buffers, including lines larger than a buffer and non-ASCII text', () => {
    const { fd, read } = target();
    const w = new LineWriter(fd);
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(`{"i":${i},"s":"ünïcødé ✓"}\n`);
    lines.splice(2500, 0, 'x'.repeat(200_000) + '\n');
    for (const l of lines) w.write(l);
    w.flushSync();
    assert.equal(read(), lines.join(''));
  });

  it('sync (files): a full batch is written in place, before write() returns, and never twice', () => {
    const { fd, read } = target();
    const w = new LineWriter(fd, { sync: true, batchBytes: 1024 });
    const lines: string[] = [];
    for (let i = 0; i < 100; i++) lines.push(`{"i":${i},"s":"ünïcødé ✓"}\n`);
    let written = '';
    for (const l of lines) {
      w.write(l);
      written += l;
    }
    // Every full batch is already in the file; the rest waits for the timer or flushSync().
    const now = read();
    assert.ok(now.length > 0 && written.startsWith(now), 'written in order, whole batches');
    w.flushSync();
    assert.equal(read(), written);
  });

  it('with maxWriteChars (a stdout shared by worker processes), writes whole lines in small pieces, in order', async () => {
    const { fd, read } = target();
    const w = new LineWriter(fd, { maxWriteChars: 64, batchBytes: 1024, delayMs: 5 });
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(`{"i":${i}}\n`);
    lines.splice(1000, 0, 'y'.repeat(300) + '\n'); // longer than one piece: written alone, whole
    for (const l of lines) w.write(l);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(read(), lines.join(''));
    const rest = ['a\n', 'b'.repeat(100) + '\n', 'c\n'];
    for (const l of rest) w.write(l);
    w.flushSync();
    assert.equal(read(), lines.join('') + rest.join(''));
  });

  it('writes pending lines on its own after the delay', async () => {
    const { fd, read } = target();
    const w = new LineWriter(fd, { delayMs: 20 });
    w.write('one\n');
    w.write('two\n');
    assert.equal(read(), '');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(read(), 'one\ntwo\n');
  });

  it('drops lines rather than growing without bound', () => {
    const w = new LineWriter(openSync('/dev/null', 'a'), { maxQueuedBytes: 64 * 1024 });
    for (let i = 0; i < 20_000; i++) w.write('y'.repeat(100) + '\n');
    assert.ok(w.dropped > 0);
  });
});

describe('writesCanInterleave (whether worker processes must keep writes under PIPE_BUF)', () => {
  it('regular files and /dev/null take whole batches; pipes do not', () => {
    const { fd } = target();
    assert.equal(writesCanInterleave(fd), false);
    assert.equal(writesCanInterleave(openSync('/dev/null', 'a')), false);
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `import { writesCanInterleave } from ${JSON.stringify(loggerUrl)}; console.log(writesCanInterleave(1));`], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    assert.equal(child.stdout.trim(), 'true');
  });
});
