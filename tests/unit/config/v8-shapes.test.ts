// Compiling the config schema must not exhaust V8's transitions from the root Object map: once
// full, every object that starts as `{}` and gains a new first property (node's nextTick records
// among them) gets a one-off map, and hot call sites go megamorphic for the life of the process
// (hello-h1 cost 25-28 µs of CPU instead of 18-22 µs). ajv's name optimiser used to do it (schema.ts).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const distSrc = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');

// Runs in a child with natives syntax: %HaveSameMap tells whether two objects share a map.
const PROBE = `
const { createConfigParser } = await import(${JSON.stringify(join(distSrc, 'config', 'index.js'))});
const { standardModules } = await import(${JSON.stringify(join(distSrc, 'standard.js'))});
createConfigParser(standardModules());
const make = new Function('k', 'return { [k]: 1, second: 2 }');
let shared = 0;
for (let i = 0; i < 50; i++) {
  const key = Symbol('probe' + i);
  if (new Function('a', 'b', 'return %HaveSameMap(a, b)')(make(key), make(key))) shared++;
}
process.stdout.write(String(shared));
`;

describe('config schema compilation and V8 object shapes', () => {
  it('leaves room for new shapes off the root Object map', () => {
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', PROBE], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    // With the root map's transitions full, two objects built alike get different maps.
    assert.equal(run.stdout, '50', `only ${run.stdout}/50 object pairs shared a map after compiling the config schema`);
  });
});
