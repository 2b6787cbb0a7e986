import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lazyRuntime } from '../../../src/handlers/app/lazy.js';
import { standardModules, standardRuntimes } from '../../../src/standard.js';
import { DEFAULT_LIMITS } from '../../../runtimes/contract.js';
import { FakeRuntime } from './fake-runtime.js';

describe('lazy engines and the standard wiring', () => {
  it('imports the engine once, on first load, and accepts a factory or a Runtime', async () => {
    let opened = 0;
    const fake = new FakeRuntime('x', ['.x']);
    const lazy = lazyRuntime('x', ['.x'], async () => {
      opened++;
      return () => fake;
    });
    assert.equal(opened, 0);
    await lazy.load({ file: '/a.x', code: 'text a' }, DEFAULT_LIMITS);
    await lazy.load({ file: '/a.x', code: 'text b' }, DEFAULT_LIMITS);
    assert.equal(opened, 1);
    assert.equal(fake.loads, 2);
  });

  it('a missing engine is a load error naming the engine, not a crash', async () => {
    const lazy = lazyRuntime('nope', ['.nope'], () => import(String('./does-not-exist.js')));
    await assert.rejects(lazy.load({ file: '/a.nope', code: '' }, DEFAULT_LIMITS), (err: unknown) => {
      const e = err as { name: string; kind: string; message: string };
      return e.name === 'GuestError' && e.kind === 'load' && e.message.includes('engine "nope" is not available');
    });
  });

  it('standardModules() includes the app module with every engine', () => {
    assert.ok(standardModules().some((m) => m.id === 'app'));
    assert.deepEqual(standardRuntimes().map((r) => r.id), ['quickjs', 'fengari', 'wasmoon', 'pyodide', 'java']);
  });
});
