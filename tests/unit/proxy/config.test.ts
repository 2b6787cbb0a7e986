import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../../src/config/index.js';
import { compileValidator } from '../../../src/config/schema.js';
import type { HandlerModule } from '../../../src/core/module.js';
import { proxyModule } from '../../../src/handlers/proxy/index.js';
import { respondModule } from '../../../src/handlers/respond/index.js';

const MODULES = [proxyModule as HandlerModule, respondModule as HandlerModule];
const options = { env: {}, homeDir: '/home/t', baseDir: '/etc/anomaly' };

function problems(text: string): string[] {
  try {
    parseConfig(text, 'p.yaml', MODULES, options);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line}:${p.column} ${p.field}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('proxy config: the upstreams section and the validate hook', () => {
  it('keeps the upstreams: section for the module', () => {
    const config = parseConfig(
      'upstreams:\n  api:\n    to: [http://127.0.0.1:1]\nsites:\n  - routes:\n      - proxy: { upstream: api }\n',
      'p.yaml',
      MODULES,
      options,
    );
    assert.deepEqual(config.sections, { upstreams: { api: { to: ['http://127.0.0.1:1'] } } });
  });

  it('reports an unknown group at the route, with line and column', () => {
    const found = problems('upstreams:\n  api:\n    to: [http://127.0.0.1:1]\nsites:\n  - routes:\n      - proxy: { upstream: apx }\n');
    assert.deepEqual(found, ['6:9 sites[0].routes[0].proxy: upstream: no group "apx" under upstreams: (defined: api)']);
  });

  it('schema errors in a group name the field; target URLs are checked by the hook', () => {
    const found = problems('upstreams:\n  api:\n    to: [http://a:1]\n    balance: fastest\nsites:\n  - routes:\n      - proxy: { upstream: api }\n');
    assert.equal(found.length, 1, found.join('\n'));
    assert.match(found[0], /^4:5 upstreams\.api\.balance: must be one of/);
    const url = problems('upstreams:\n  api:\n    to: [ftp://x]\nsites:\n  - routes:\n      - proxy: { upstream: api }\n');
    assert.deepEqual(url, ['6:9 sites[0].routes[0].proxy: upstreams.api.to[0]: "ftp://x" must start with http:// or https://']);
  });

  it('rejects header rewrites that could split a header', () => {
    const found = problems('sites:\n  - routes:\n      - proxy: { to: "http://a:1", request_headers: { set: { "x-a": "1\\r\\nx-b: 2" } } }\n');
    assert.equal(found.length, 1, found.join('\n'));
  });

  it('a module may not declare a section that the config itself has', () => {
    const clash = { id: 'x', schema: { type: 'object' }, sections: { sites: { type: 'object' } } };
    assert.throws(() => compileValidator([clash]), /section "sites"/);
  });
});
