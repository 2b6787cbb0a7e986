import assert from 'node:assert/strict';
import { renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { appModule, type AppHandler } from '../../../src/handlers/app/index.js';
import { bodyText, FakeRuntime, recordingLogger, request, sleep, tempDir, until, type LogLine } from './fake-runtime.js';

describe('app hot reload', () => {
  const tmp = tempDir();
  after(() => tmp.rm());
  let n = 0;

  async function mount(runtime: FakeRuntime, program: string, lines: LogLine[] = [], extra: Record<string, unknown> = {}): Promise<{ app: AppHandler; path: string }> {
    const name = `r${++n}.fake`;
    const path = tmp.write(name, program);
    const app = (await appModule([runtime]).create({ file: name, ...extra }, tmp.ctx(recordingLogger(lines)))) as AppHandler;
    return { app, path };
  }

  const answer = async (app: AppHandler): Promise<string> => bodyText(await app.handle(request('/')));

  it('a file change swaps in the new version within 1 s; the old instances are disposed', async () => {
    const runtime = new FakeRuntime();
    const lines: LogLine[] = [];
    const { app, path } = await mount(runtime, 'text v1', lines);
    assert.equal(await answer(app), 'v1');
    const before = app.status();
    assert.equal(before.version, 1);
    await sleep(20);
    const changed = Date.now();
    writeFileSync(path, 'text v2');
    assert.ok(await until(async () => (await answer(app)) === 'v2', 1000), 'new version answers within 1 s');
    const took = Date.now() - changed;
    const after = app.status();
    assert.equal(after.version, 2);
    assert.ok((after.loadedAt ?? '') >= (before.loadedAt ?? ''));
    assert.equal(after.stats.reloads, 1);
    assert.equal(after.lastError, null);
    assert.ok(await until(() => runtime.instances.slice(0, 2).every((i) => i.disposed)));
    assert.equal(runtime.live.length, 2);
    assert.ok(lines.some((l) => l.level === 'info' && l.msg.includes('reloaded (version 2)')));
    assert.ok(took < 1000, `took ${took} ms`);
    await app.dispose();
  });

  it('an app that fails to load at start answers 503 and logs file:line, until the file is fixed', async () => {
    const runtime = new FakeRuntime();
    const lines: LogLine[] = [];
    const { app, path } = await mount(runtime, 'syntax', lines);
    const res = await app.handle(request('/'));
    assert.equal(res.status, 503);
    assert.equal(app.status().version, 0);
    assert.equal(app.status().loadedAt, null);
    assert.ok(lines.some((l) => l.level === 'error' && l.msg.includes(`${path}:3: unexpected token`)));
    writeFileSync(path, 'text fixed');
    assert.ok(await until(async () => (await answer(app)) === 'fixed', 1000), 'the fixed file loads');
    assert.equal(app.status().version, 2);
    assert.equal(app.status().stale, false);
    await app.dispose();
  });

  it('a broken new version leaves the old one serving, with lastError (file, line, message)', async () => {
    const runtime = new FakeRuntime();
    const lines: LogLine[] = [];
    const { app, path } = await mount(runtime, 'text good', lines);
    writeFileSync(path, 'syntax');
    assert.ok(await until(() => app.status().lastError !== null, 1000));
    const s = app.status();
    assert.deepEqual({ ...s.lastError, at: undefined }, { file: path, line: 3, message: 'unexpected token', at: undefined });
    assert.ok(!Number.isNaN(Date.parse(s.lastError?.at ?? '')));
    assert.equal(s.stale, true);
    assert.equal(s.version, 1);
    assert.equal(s.stats.reloadFailures, 1);
    assert.equal(await answer(app), 'good');
    const logged = lines.find((l) => l.level === 'error');
    assert.ok(logged !== undefined && logged.msg.includes(`${path}:3: unexpected token`), logged?.msg);
    // Fixing the file brings the next version.
    writeFileSync(path, 'text fixed');
    assert.ok(await until(async () => (await answer(app)) === 'fixed', 1000));
    assert.equal(app.status().version, 2);
    assert.equal(app.status().stale, false);
    await app.dispose();
  });

  it('in-flight requests finish on the old version, which is disposed once idle', async () => {
    const runtime = new FakeRuntime();
    const { app, path } = await mount(runtime, 'slow 400 old', [], { instances: 1 });
    const inflight = app.handle(request('/'));
    await until(() => app.status().pool.busy === 1);
    writeFileSync(path, 'text new');
    assert.ok(await until(() => app.status().version === 2, 1000));
    const oldInstance = runtime.instances[0];
    assert.equal(oldInstance.disposed, false, 'still busy');
    assert.equal(app.status().pool.retiring, 1);
    assert.equal(await answer(app), 'new');
    assert.equal(await bodyText(await inflight), 'old');
    assert.ok(await until(() => oldInstance.disposed));
    assert.equal(app.status().pool.retiring, 0);
    await app.dispose();
  });

  it('requests waiting for an instance move to the new version', async () => {
    const runtime = new FakeRuntime();
    const { app } = await mount(runtime, 'slow 300 old', [], { instances: 1, reload: false });
    const first = app.handle(request('/'));
    const waiting = app.handle(request('/'));
    await until(() => app.status().pool.queued === 1);
    writeFileSync(app.status().file, 'text new');
    await app.reload();
    assert.equal(await bodyText(await waiting), 'new');
    assert.equal(await bodyText(await first), 'old');
    await app.dispose();
  });

  it('editors that save by rename are seen; touching without a change reloads nothing', async () => {
    const runtime = new FakeRuntime();
    const { app, path } = await mount(runtime, 'text one');
    const loads = runtime.loads;
    utimesSync(path, new Date(), new Date());
    await sleep(200);
    assert.equal(runtime.loads, loads);
    const temp = join(tmp.dir, '.swap.tmp');
    writeFileSync(temp, 'text two');
    renameSync(temp, path);
    assert.ok(await until(async () => (await answer(app)) === 'two', 1000));
    writeFileSync(temp, 'text three');
    renameSync(temp, path);
    assert.ok(await until(async () => (await answer(app)) === 'three', 1000));
    await app.dispose();
  });

  it('dispose() closes the watcher and disposes every instance', async () => {
    const runtime = new FakeRuntime();
    const { app, path } = await mount(runtime, 'text a');
    await app.dispose();
    assert.equal(runtime.live.length, 0);
    const loads = runtime.loads;
    writeFileSync(path, 'text b');
    await sleep(200);
    assert.equal(runtime.loads, loads);
  });
});
