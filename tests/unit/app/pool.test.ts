import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { appModule, type AppHandler } from '../../../src/handlers/app/index.js';
import { bodyText, FakeRuntime, recordingLogger, request, tempDir, until, type LogLine } from './fake-runtime.js';

describe('app instance pool', () => {
  const tmp = tempDir();
  after(() => tmp.rm());

  async function mount(runtime: FakeRuntime, program: string, extra: Record<string, unknown>, lines: LogLine[] = []): Promise<AppHandler> {
    tmp.write('p.fake', program);
    return (await appModule([runtime]).create({ file: 'p.fake', reload: false, ...extra }, tmp.ctx(recordingLogger(lines)))) as AppHandler;
  }

  it('loads N instances (default 2) and runs one request per instance at a time', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'slow 30 done', {});
    assert.equal(runtime.live.length, 2);
    const answers = await Promise.all(Array.from({ length: 6 }, () => app.handle(request('/'))));
    for (const res of answers) assert.equal(await bodyText(res), 'done');
    for (const inst of runtime.instances) assert.equal(inst.maxActive, 1);
    assert.equal(runtime.instances[0].stats.calls + runtime.instances[1].stats.calls, 6);
    const s = app.status();
    assert.equal(s.pool.size, 2);
    assert.equal(s.pool.busy, 0);
    assert.equal(s.stats.requests, 6);
    assert.equal(s.stats.runtime.calls, 6);
    await app.dispose();
  });

  it('queues requests while every instance is busy, and shows them in status', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'slow 50 ok', { instances: 1 });
    const pending = [app.handle(request('/')), app.handle(request('/')), app.handle(request('/'))];
    assert.ok(await until(() => app.status().pool.queued === 2 && app.status().pool.busy === 1));
    const answers = await Promise.all(pending);
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
    assert.equal(app.status().pool.queued, 0);
    await app.dispose();
  });

  it('over the queue bound: 503 with retry-after, and one warning line', async () => {
    const runtime = new FakeRuntime();
    const lines: LogLine[] = [];
    const app = await mount(runtime, 'slow 80 ok', { instances: 1, queue: 1 }, lines);
    const first = app.handle(request('/'));
    const second = app.handle(request('/'));
    await until(() => app.status().pool.queued === 1);
    const third = await app.handle(request('/'));
    const fourth = await app.handle(request('/'));
    assert.equal(third.status, 503);
    assert.equal(third.headers['retry-after'], '1');
    assert.equal(fourth.status, 503);
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    assert.equal(app.status().stats.rejected, 2);
    assert.equal(lines.filter((l) => l.level === 'warn').length, 1);
    await app.dispose();
  });

  it('a request waiting longer than queue_timeout gets 503', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'slow 200 ok', { instances: 1, queue_timeout: '30ms' });
    const first = app.handle(request('/'));
    const waited = await app.handle(request('/'));
    assert.equal(waited.status, 503);
    assert.equal((await first).status, 200);
    await app.dispose();
  });

  it('a broken instance (deadline, memory) is disposed and replaced in the background', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'memory', { instances: 2 });
    const [a, b] = runtime.instances;
    assert.equal((await app.handle(request('/'))).status, 503);
    assert.ok(a.disposed !== b.disposed, 'exactly the broken one is disposed');
    assert.ok(await until(() => runtime.live.length === 2 && app.status().pool.size === 2));
    assert.equal(runtime.instances.length, 3);
    assert.equal(app.status().stats.replaced, 1);
    assert.equal(app.status().pool.free, 2);
    await app.dispose();
  });

  it('waiting requests are served by the replacement', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'deadline', { instances: 1 });
    const answers = await Promise.all([app.handle(request('/')), app.handle(request('/')), app.handle(request('/'))]);
    assert.deepEqual(answers.map((r) => r.status), [504, 504, 504]);
    assert.equal(app.status().stats.replaced, 3);
    assert.ok(await until(() => app.status().pool.size === 1));
    await app.dispose();
  });

  it('a failing replacement is retried, and recorded as lastError', async () => {
    const runtime = new FakeRuntime();
    const lines: LogLine[] = [];
    const app = await mount(runtime, 'memory', { instances: 1 }, lines);
    runtime.failLoads = new Error('engine exploded');
    assert.equal((await app.handle(request('/'))).status, 503);
    assert.ok(await until(() => app.status().lastError !== null));
    assert.equal(app.status().lastError?.message, 'engine exploded');
    assert.equal(app.status().pool.size, 0);
    runtime.failLoads = null;
    assert.ok(await until(() => app.status().pool.size === 1, 3000));
    assert.ok(lines.some((l) => l.level === 'error' && l.msg.includes('replacement failed')));
    await app.dispose();
  });

  it('dispose() answers waiting requests 503 and disposes every instance once idle', async () => {
    const runtime = new FakeRuntime();
    const app = await mount(runtime, 'slow 50 ok', { instances: 1 });
    const running = app.handle(request('/'));
    await until(() => app.status().pool.busy === 1);
    const waiting = app.handle(request('/'));
    await until(() => app.status().pool.queued === 1);
    const disposed = app.dispose();
    assert.equal((await waiting).status, 503);
    assert.equal(runtime.instances[0].disposed, false, 'the busy instance finishes first');
    assert.equal((await running).status, 200);
    await disposed;
    assert.equal(runtime.live.length, 0);
    assert.equal((await app.handle(request('/'))).status, 503);
  });
});
