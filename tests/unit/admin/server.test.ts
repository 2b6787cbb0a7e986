import assert from 'node:assert/strict';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AdminControl, ReloadResult } from '../../../src/admin/control.js';
import { AdminServer } from '../../../src/admin/server.js';

const logger = { child: () => logger, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, trace() {} } as never;
const TOKEN = 'unit-test-token';

/** A control whose reload fails when the file contains "unloadable", like a valid config that cannot be applied. */
async function setup() {
  const dir = await mkdtemp(join(tmpdir(), 'anomaly-admin-'));
  const file = join(dir, 'anomaly.yaml');
  await writeFile(file, 'version: 1\n');
  const reloads: string[] = [];
  const control: AdminControl = {
    configFile: file,
    reports: async () => [],
    purge: async () => [{ worker: null, purged: true }],
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: 'x_total 1\n' }),
    async reload(): Promise<ReloadResult> {
      const text = await readFile(file, 'utf8');
      reloads.push(text);
      return text.includes('unloadable') ? { ok: false, message: 'app x.js: does not load' } : { ok: true };
    },
    validate: (text) => (text.includes('invalid') ? ['anomaly.yaml:1:1: sites: required', 'anomaly.yaml:2:3: limits.max_body: must be a size'] : []),
    tenants: () => [{ name: 'a' }],
  };
  const server = new AdminServer({ address: '127.0.0.1', port: 0, token: TOKEN }, control, logger);
  const port = await server.start();
  const call = (method: string, path: string, body?: string, token: string | null = TOKEN) =>
    fetch(`http://127.0.0.1:${port}${path}`, { method, body, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { file, reloads, server, call };
}

describe('admin API', () => {
  it('needs the bearer token except for the page and the OpenAPI document', async () => {
    const { server, call } = await setup();
    try {
      assert.equal((await call('GET', '/metrics', undefined, null)).status, 401);
      assert.equal((await call('GET', '/metrics', undefined, 'wrong-token-xx')).status, 401);
      const ok = await call('GET', '/metrics');
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'x_total 1\n');
      assert.equal((await call('GET', '/openapi.json', undefined, null)).status, 200);
      assert.match(await (await call('GET', '/', undefined, null)).text(), /<canvas/);
      assert.equal((await call('GET', '/nope')).status, 404);
    } finally {
      await server.stop();
    }
  });

  it('PUT /config: invalid → 400 with every problem, nothing written; valid → written and reloaded', async () => {
    const { file, reloads, server, call } = await setup();
    try {
      const bad = await call('PUT', '/config', 'invalid: yes\n');
      assert.equal(bad.status, 400);
      assert.deepEqual(((await bad.json()) as { errors: string[] }).errors.length, 2);
      assert.equal(await readFile(file, 'utf8'), 'version: 1\n');
      assert.deepEqual(reloads, []);
      const good = await call('PUT', '/config', 'version: 2\n');
      assert.equal(good.status, 200);
      assert.equal(await readFile(file, 'utf8'), 'version: 2\n');
      assert.deepEqual(reloads, ['version: 2\n']);
    } finally {
      await server.stop();
    }
  });

  it('PUT /config that cannot be applied writes the old file back and reloads it', async () => {
    const { file, reloads, server, call } = await setup();
    try {
      const r = await call('PUT', '/config', 'unloadable: true\n');
      assert.equal(r.status, 500);
      assert.deepEqual(await r.json(), { ok: false, errors: ['app x.js: does not load'], rolledBack: true });
      assert.equal(await readFile(file, 'utf8'), 'version: 1\n');
      assert.deepEqual(reloads, ['unloadable: true\n', 'version: 1\n']);
    } finally {
      await server.stop();
    }
  });

  it('purge checks its body; tenant reloads know the tenants', async () => {
    const { server, call } = await setup();
    try {
      assert.equal((await call('POST', '/cache/purge', '{"zone": 1}')).status, 400);
      assert.equal((await call('POST', '/cache/purge', 'not json')).status, 400);
      assert.equal((await call('POST', '/cache/purge', '{"zone": "main", "key": "http://a/"}')).status, 200);
      assert.equal((await call('POST', '/tenants/a/reload')).status, 200);
      assert.equal((await call('POST', '/tenants/b/reload')).status, 404);
    } finally {
      await server.stop();
    }
  });
});
