import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { AnomalyError, ErrorCodes } from '../../../src/core/errors.js';
import { appModule } from '../../../src/handlers/app/index.js';
import { appSchema, chooseRuntime, normaliseAppConfig } from '../../../src/handlers/app/config.js';
import { FakeRuntime, recordingLogger, tempDir } from './fake-runtime.js';

const quickjs = new FakeRuntime('quickjs', ['.js', '.mjs']);
const fengari = new FakeRuntime('fengari', ['.lua']);
const wasmoon = new FakeRuntime('wasmoon', ['.lua']);
const RUNTIMES = [quickjs, wasmoon, fengari];

describe('app config', () => {
  const tmp = tempDir();
  after(() => tmp.rm());

  it('infers the engine from the extension, preferring quickjs for .js/.mjs and fengari for .lua', () => {
    assert.equal(chooseRuntime('/a/app.js', undefined, RUNTIMES).id, 'quickjs');
    assert.equal(chooseRuntime('/a/app.MJS', undefined, RUNTIMES).id, 'quickjs');
    assert.equal(chooseRuntime('/a/app.lua', undefined, RUNTIMES).id, 'fengari');
    assert.equal(chooseRuntime('/a/app.lua', undefined, [wasmoon]).id, 'wasmoon');
    assert.equal(chooseRuntime('/a/app.lua', 'wasmoon', RUNTIMES).id, 'wasmoon');
    assert.equal(chooseRuntime('/a/app.txt', 'quickjs', RUNTIMES).id, 'quickjs');
  });

  it('names the file and the known engines for an unknown extension or engine', () => {
    for (const [file, engine] of [['/a/app.py', undefined], ['/a/app.js', 'v8']] as const) {
      assert.throws(
        () => chooseRuntime(file, engine, RUNTIMES),
        (err: unknown) =>
          err instanceof AnomalyError && err.code === ErrorCodes.CONFIG_MODULE && err.message.includes(file) &&
          err.message.includes('quickjs') && err.message.includes('fengari') && err.message.includes('wasmoon'),
      );
    }
  });

  it('reads durations and sizes, with documented defaults', () => {
    tmp.write('app.js', 'text hi');
    const o = normaliseAppConfig({ file: 'app.js', deadline: '250ms', memory: '32mb', max_response: '1kb', instances: 3, queue: 4, queue_timeout: '2s' }, tmp.dir, RUNTIMES);
    assert.equal(o.limits.deadlineMs, 250);
    assert.equal(o.limits.memoryBytes, 32 * 1024 * 1024);
    assert.equal(o.limits.maxResponseBytes, 1024);
    assert.equal(o.instances, 3);
    assert.equal(o.queue, 4);
    assert.equal(o.queueTimeoutMs, 2000);
    const d = normaliseAppConfig({ file: 'app.js' }, tmp.dir, RUNTIMES);
    assert.equal(d.instances, 2);
    assert.equal(d.queue, 256);
    assert.equal(d.reload, true);
    assert.equal(d.limits.deadlineMs, 5000);
    assert.equal(d.file, `${tmp.dir}/app.js`);
  });

  it('the schema accepts the documented keys and rejects others', () => {
    const validate = new Ajv({ allErrors: true }).compile(appSchema);
    assert.ok(validate({ file: './app.js', engine: 'quickjs', instances: 2, deadline: '5s', memory: '64mb', max_response: '16mb', reload: true, queue: 10, queue_timeout: 1000, stack: '1mb' }));
    assert.ok(!validate({ file: './app.js', instance: 2 }));
    assert.ok(!validate({ engine: 'quickjs' }));
    assert.ok(!validate({ file: './app.js', deadline: 'soon' }));
    assert.ok(!validate({ file: './app.js', instances: 0 }));
  });

  it('create() fails when the file is missing', async () => {
    const mod = appModule(RUNTIMES);
    await assert.rejects(async () => mod.create({ file: 'missing.js' }, tmp.ctx(recordingLogger())), /app file not found: .*missing\.js/);
  });

  it('create() fails with file:line: message when the app does not load', async () => {
    const path = tmp.write('broken.js', 'syntax');
    const mod = appModule(RUNTIMES);
    await assert.rejects(
      async () => mod.create({ file: 'broken.js', reload: false }, tmp.ctx(recordingLogger())),
      (err: unknown) => err instanceof AnomalyError && err.code === ErrorCodes.CONFIG_MODULE && err.message === `${path}:3: unexpected token`,
    );
    // All or nothing: instances that did load were disposed.
    assert.equal(quickjs.live.length, 0);
  });
});
