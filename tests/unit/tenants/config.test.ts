import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/index.js';
import { standardModules } from '../../../src/standard.js';

const parse = (text: string) => parseConfig(text, '<test>', standardModules());

function problems(text: string): string[] {
  try {
    parse(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => `${p.field}: ${p.message}`);
  }
  assert.fail('accepted');
}

describe('tenants config', () => {
  it('gives each site its tenant, the tenant max_body and app quotas as defaults', () => {
    const config = parse(`
tenants:
  a: { rate_limit: { rate: 10/s }, max_body: 2kb, apps: { deadline: 1s, memory: 32mb } }
admin: { listen: 9999 }
sites:
  - hosts: [a.test]
    tenant: a
    routes:
      - { path: /app, app: { file: /nonexistent/app.js } }
      - { path: /*, respond: { body: x }, rate_limit: { rate: 30/min, burst: 3, per: client } }
  - hosts: [b.test]
    routes: [ { path: /, respond: { body: y } } ]
`);
    assert.deepEqual(config.admin, { address: '127.0.0.1', port: 9999, token: null });
    const [a, b] = config.sites;
    assert.equal(a.tenant, 'a');
    assert.equal(a.limits.maxBody, 2048);
    assert.equal(b.tenant ?? null, null);
    assert.equal(b.limits.maxBody, 10 * 1024 * 1024);
    assert.deepEqual(config.tenants?.[0].rateLimit, { perSecond: 10, burst: 10 });
    assert.deepEqual(a.routes[0].config, { file: '/nonexistent/app.js', deadline: 1000, memory: 32 * 1024 * 1024 });
    assert.deepEqual(a.routes[1].rateLimit, { perSecond: 0.5, burst: 3, per: 'client' });
    assert.equal(a.routes[1].tenant?.name, 'a');
  });

  it('reports unknown tenants, over-quota apps, bad rates and an admin API open without a token', () => {
    const found = problems(`
tenants:
  a: { apps: { memory: 32mb } }
admin: { listen: "0.0.0.0:9999" }
sites:
  - hosts: [a.test]
    tenant: a
    routes: [ { path: /, app: { file: x.js, memory: 64mb } } ]
  - hosts: [b.test]
    tenant: b
    routes: [ { path: /, respond: { body: y }, rate_limit: { rate: "5 per second" } } ]
`);
    assert.ok(found.some((p) => p.startsWith('admin') && p.includes('token')), found.join('\n'));
    assert.ok(found.some((p) => p.includes('unknown tenant "b"')), found.join('\n'));
    assert.ok(found.some((p) => p.startsWith('sites[1].routes[0].rate_limit.rate')), found.join('\n'));
  });

  it('reports an app above its tenant quota', () => {
    const found = problems(`
tenants:
  a: { apps: { memory: 32mb } }
sites:
  - tenant: a
    routes: [ { path: /, app: { file: x.js, memory: 64mb } } ]
`);
    assert.deepEqual(found, [`sites[0].routes[0].app: app memory 64mb is above tenant "a"'s quota`]);
  });
});
