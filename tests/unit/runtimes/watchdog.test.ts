/** native/watchdog: a deadline for synchronous calls on this thread (runtimes/python/watchdog.ts). Skipped (loudly) where it cannot be built. */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { loadWatchdog, wasTerminated, type Watchdog } from '../../../runtimes/python/watchdog.js';

let wd: Watchdog | null = null;

describe('native watchdog', () => {
  before(async () => {
    const loaded = await loadWatchdog({});
    if (typeof loaded === 'string') {
      if (process.env.CI === 'true') throw new Error(loaded);
      process.stderr.write(`*** watchdog tests skipped: ${loaded} ***\n`);
      return;
    }
    wd = loaded;
  });

  it('calls through: the value, this and the arguments; exceptions pass unchanged', (t) => {
    if (wd === null) return t.skip();
    assert.equal(wd.call(function (this: { k: number }, a: number, b: number) { return this.k + a + b; }, { k: 1 }, 1000, 100, null, 2, 3), 6);
    assert.throws(() => wd!.call(() => { throw new RangeError('x'); }, null, 1000, 100, null), RangeError);
    assert.throws(() => wd!.call(null as never, null, 1000, 100, null), TypeError);
  });

  it('terminates a loop and Atomics.wait after deadline + grace; the thread runs on', (t) => {
    if (wd === null) return t.skip();
    const slot = new Int32Array(new SharedArrayBuffer(8));
    for (const runaway of [() => { for (;;); }, () => Atomics.wait(slot, 1, 0, 60_000)]) {
      const started = performance.now();
      assert.throws(() => wd!.call(runaway, null, 50, 50, null), (err: unknown) => wasTerminated(err));
      const took = performance.now() - started;
      assert.ok(took >= 95 && took < 2000, `stopped after ${took.toFixed(0)} ms`);
    }
    assert.equal(wd.call((x: number) => x * 2, null, 1000, 100, null, 21), 42);
    assert.equal([1, 2, 3].map((x) => x + 1).join(), '2,3,4');
  });

  it('at the deadline writes SIGINT (2) into slot 0, repeatedly, and 1 into slot 1; the slot is cleared after', (t) => {
    if (wd === null) return t.skip();
    const slot = new Int32Array(new SharedArrayBuffer(8));
    // Reads the interrupt twice, clearing it as pyodide does: the second write is the repeat.
    const seen = wd.call(() => {
      const got: number[] = [];
      while (got.length < 2) {
        const v = Atomics.exchange(slot, 0, 0);
        if (v !== 0) got.push(v);
      }
      return got;
    }, null, 20, 5000, slot);
    assert.deepEqual(seen, [2, 2]);
    assert.equal(slot[0], 0);
    assert.equal(slot[1], 1);
  });

  it('nothing fires after the call returned, and a fast call never sees the interrupt', async (t) => {
    if (wd === null) return t.skip();
    const slot = new Int32Array(new SharedArrayBuffer(8));
    for (let i = 0; i < 1000; i++) wd.call(() => i, null, 30, 30, slot);
    await new Promise((r) => setTimeout(r, 100)); // past every deadline of those calls
    assert.deepEqual([...slot], [0, 0]);
  });

  it('a nested call runs under the outer deadline', (t) => {
    if (wd === null) return t.skip();
    assert.equal(wd.call(() => wd!.call((x: number) => x + 1, null, 1, 1, null, 1), null, 1000, 100, null), 2);
    assert.throws(() => wd!.call(() => wd!.call(() => { for (;;); }, null, 60_000, 0, null), null, 50, 50, null), (err: unknown) => wasTerminated(err));
  });

  it('ANOMALY_PYTHON_WATCHDOG=0 turns it off', async () => {
    assert.equal(await loadWatchdog({ ANOMALY_PYTHON_WATCHDOG: '0' }), 'ANOMALY_PYTHON_WATCHDOG=0');
  });
});
