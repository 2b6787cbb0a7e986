// The server keeps one of node's nextTick records alive (src/server/tick-shape.ts) so that the map
// chain of nextTick's record literal survives idle-time GCs; without it, about half the servers that
// sat idle before traffic ran every request ≈25-50% slower for their whole life. This checks that the
// record it holds is node's real one and that records made after full GCs still share its map.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const tickShape = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src', 'server', 'tick-shape.js');

// Runs in a child with natives syntax (%HaveSameMap) and gc().
const PROBE = `
const { keepNextTickShape } = await import(${JSON.stringify(tickShape)});
const { executionAsyncResource } = await import('node:async_hooks');
const kept = await keepNextTickShape();
if (kept === null) { process.stdout.write('none'); process.exit(0); }
const again = await keepNextTickShape();
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)');
const record = () => new Promise((resolve) => process.nextTick(() => resolve(executionAsyncResource())));
let shared = 0;
for (let i = 0; i < 5; i++) {
  await new Promise((resolve) => setImmediate(resolve));
  for (let k = 0; k < 3; k++) globalThis.gc();
  if (sameMap(kept, await record())) shared++;
}
// Node 22+ adds a context-frame symbol to the record; the two async id symbols are what identify it.
const symbols = Object.getOwnPropertySymbols(kept).map(String).filter((s) => s.includes('async_id_symbol'));
process.stdout.write(JSON.stringify({ idempotent: again === kept, symbols, keys: Object.keys(kept), shared }));
`;

describe('keepNextTickShape', () => {
  it("holds node's nextTick record, and later records share its map across full GCs", () => {
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--expose-gc', '--input-type=module', '-e', PROBE], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.notEqual(run.stdout, 'none', "this Node's nextTick callbacks run with no record as their async resource: the slow-state guard does nothing here");
    assert.deepEqual(JSON.parse(run.stdout), {
      idempotent: true,
      symbols: ['Symbol(async_id_symbol)', 'Symbol(trigger_async_id_symbol)'],
      keys: ['callback', 'args'],
      shared: 5,
    });
  });
});
