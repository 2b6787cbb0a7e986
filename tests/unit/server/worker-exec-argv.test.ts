import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workerExecArgv } from '../../../src/server/workers/supervisor.js';

describe('workerExecArgv', () => {
  it("adds --no-memory-reducer to the supervisor's own node flags", () => {
    assert.deepEqual(workerExecArgv(['--enable-source-maps']), ['--enable-source-maps', '--no-memory-reducer']);
  });
  it('leaves an explicit choice alone', () => {
    assert.deepEqual(workerExecArgv(['--memory-reducer']), ['--memory-reducer']);
    assert.deepEqual(workerExecArgv(['--no-memory-reducer']), ['--no-memory-reducer']);
    assert.deepEqual(workerExecArgv(['--memory_reducer']), ['--memory_reducer']);
  });
});
