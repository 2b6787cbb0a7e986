import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/index.js';
import { formatProblems } from '../../../src/config/errors.js';
import { FAKE_MODULES } from '../config/fake-modules.js';

const options = { homeDir: '/home/u', env: {} };
const parse = (text: string) => parseConfig(text, 'c.yaml', FAKE_MODULES, options);
function problems(text: string): string {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return formatProblems(err.problems);
  }
  assert.fail('accepted');
}

describe('cache configuration', () => {
  it('normalises named zones and route options, with defaults', () => {
    const config = parse(`storage: /var/anomaly
caches:
  main: { store: memory, max_size: 1MB }
  files: { store: disk }
  shared: { store: redis, url: "redis://10.0.0.5:6379", timeout: 100ms }
sites:
  - routes:
      - { path: /a/*, respond: {}, cache: { zone: main, stale_while_revalidate: 30s, purge_token: "0123456789" } }
      - { path: /b/*, respond: {}, cache: true }
      - { path: /c/*, respond: {}, cache: { zone: shared, key: "{host}{path}|{header:accept}" } }
      - { path: /d/*, respond: {} }
`);
    assert.deepEqual(config.caches.map((z) => [z.name, z.store, z.maxSize, z.path, z.url, z.timeout]), [
      ['main', 'memory', 1024 * 1024, null, null, 250],
      ['files', 'disk', 1024 * 1024 * 1024, '/var/anomaly/cache/files', null, 250],
      ['shared', 'redis', 0, null, 'redis://10.0.0.5:6379', 100],
    ]);
    const [a, b, c, d] = config.sites[0].routes.map((r) => r.cache);
    assert.equal(a?.zone.name, 'main');
    assert.equal(a?.staleWhileRevalidate, 30_000);
    assert.equal(a?.purgeToken, '0123456789');
    assert.equal(a?.key, '{scheme}://{host}{uri}');
    assert.equal(a?.lockTimeout, 5000);
    assert.equal(b?.zone.store, 'memory', 'cache: true is an inline memory zone');
    assert.equal(b?.maxObjectSize, 8 * 1024 * 1024);
    assert.equal(c?.zone.prefix, 'anomaly:cache:');
    assert.equal(d, null);
  });

  it('reports unknown zones, misplaced store options, bad keys and stores without what they need', () => {
    const text = problems(`caches:
  r: { store: redis }
  m: { store: memory, url: "redis://x" }
sites:
  - routes:
      - { path: /a, respond: {}, cache: { zone: nope } }
      - { path: /b, respond: {}, cache: { zone: m, max_size: 5MB } }
      - { path: /c, respond: {}, cache: { key: "{bogus}" } }
      - { path: /d, respond: {}, cache: { stale_if_error: soon } }
`);
    assert.match(text, /c\.yaml:2:\d+: caches\.r\.store: a redis store needs "url"/);
    assert.match(text, /caches\.m\.url: "url" is an option of the redis store, not of memory/);
    assert.match(text, /cache\.zone: no cache zone "nope" in "caches:" \(known: r, m\)/);
    assert.match(text, /cache\.max_size: "max_size" belongs to the zone "m"/);
    assert.match(text, /cache\.key: must be text with \{scheme\}/);
    assert.match(text, /cache\.stale_if_error: must be a duration/);
  });
});
