/** The app host with engines offering handleNow: answers in the same turn when they can, promises otherwise. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { appModule, type AppHandler } from '../../../src/handlers/app/index.js';
import { bodyText, FakeRuntime, recordingLogger, request, tempDir } from './fake-runtime.js';

describe('app host: handleNow', () => {
  const tmp = tempDir();
  const runtime = new FakeRuntime('fake', ['.fake'], true);
  after(() => tmp.rm());

  async function mount(program: string, extra: Record<string, unknown> = {}): Promise<AppHandler> {
    tmp.write('n.fake', program);
    return (await appModule([runtime]).create({ file: 'n.fake', reload: false, instances: 1, ...extra }, tmp.ctx(recordingLogger([])))) as AppHandler;
  }

  it('an answer given now is a Response in the same turn, no promise', async () => {
    const app = await mount('text hi');
    const res = app.handle(request('/'));
    assert.ok(!(res instanceof Promise), 'answered in this turn');
    assert.equal(await bodyText(res), 'hi');
    assert.equal(runtime.instances.at(-1)?.answeredNow, 1);
    await app.dispose();
  });

  it('a promise from handleNow is awaited, and the instance comes back only when it settles', async () => {
    const app = await mount('slow 30 later');
    const first = app.handle(request('/'));
    assert.ok(first instanceof Promise);
    const second = app.handle(request('/')); // instances: 1, so this one waits for the first
    assert.equal(await bodyText(await first), 'later');
    assert.equal(await bodyText(await second), 'later');
    assert.equal(runtime.instances.at(-1)?.maxActive, 1);
    await app.dispose();
  });

  it('errors thrown now are answered like rejected ones; a promise that never settles meets the deadline', async () => {
    const throws = await mount('throw');
    assert.equal((await throws.handle(request('/'))).status, 500);
    assert.equal((await throws.handle(request('/'))).status, 500, 'the instance came back after the throw');
    await throws.dispose();
    const hangs = await mount('hang', { deadline: 50 });
    const res = await hangs.handle(request('/'));
    assert.equal(res.status, 504);
    assert.equal(hangs.status().stats.replaced, 1);
    await hangs.dispose();
  });
});
