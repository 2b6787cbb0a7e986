import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { HandlerModule, ProvisionedHandler } from '../../../src/core/module.js';
import { Response } from '../../../src/core/response.js';
import { parseConfig } from '../../../src/config/index.js';
import { Dispatcher } from '../../../src/server/dispatcher.js';

/** A stand-in for the app module (its id is what makes handlers reusable): counts creations and disposals. */
function fakeApp() {
  const created: string[] = [];
  const disposed: string[] = [];
  const module: HandlerModule<{ file: string; fail?: boolean }> = {
    id: 'app',
    schema: { type: 'object', properties: { file: { type: 'string' }, fail: { type: 'boolean' } } },
    create(config): ProvisionedHandler {
      if (config.fail === true) throw new Error('does not load');
      created.push(config.file);
      return { handle: () => new Response(200, config.file), dispose: () => void disposed.push(config.file) };
    },
  };
  return { module: module as HandlerModule, created, disposed };
}

const logger = { child: () => logger, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, trace() {} } as never;
const config = (a: string, b: string, failB = false) =>
  parseConfig(
    `sites:\n  - hosts: [a.test]\n    routes: [ { path: /, app: { file: ${a} } } ]\n  - hosts: [b.test]\n    routes: [ { path: /, app: { file: ${b}, fail: ${failB} } } ]\n`,
    '<test>',
    [fakeApp().module],
  );

describe('config reload keeps unchanged handlers', () => {
  it('a new version takes over the handlers of routes whose block did not change', async () => {
    const app = fakeApp();
    const v1 = await Dispatcher.build(config('a1.js', 'b1.js'), [app.module], logger, []);
    assert.deepEqual(app.created, ['a1.js', 'b1.js']);
    const v2 = await Dispatcher.build(config('a2.js', 'b1.js'), [app.module], logger, [], undefined, v1);
    assert.deepEqual(app.created, ['a1.js', 'b1.js', 'a2.js'], 'b1 was not created again');
    await v1.dispose();
    assert.deepEqual(app.disposed, ['a1.js'], 'the old version disposes only what it still owns');
    await v2.dispose();
    assert.deepEqual(app.disposed, ['a1.js', 'a2.js', 'b1.js']);
  });

  it('a failed build leaves the previous version its handlers', async () => {
    const app = fakeApp();
    const v1 = await Dispatcher.build(config('a1.js', 'b1.js'), [app.module], logger, []);
    await assert.rejects(Dispatcher.build(config('a1.js', 'b2.js', true), [app.module], logger, [], undefined, v1), /does not load/);
    assert.deepEqual(app.disposed, [], 'a1, adopted by the failed build, is still v1s');
    const v3 = await Dispatcher.build(config('a1.js', 'b1.js'), [app.module], logger, [], undefined, v1);
    assert.deepEqual(app.created, ['a1.js', 'b1.js']);
    await v1.dispose();
    assert.deepEqual(app.disposed, []);
    await v3.dispose();
    assert.deepEqual(app.disposed.sort(), ['a1.js', 'b1.js']);
  });
});
