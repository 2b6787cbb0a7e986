import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createConfigParser, DEFAULT_LIMITS, demoConfig, loadConfigFile, parseConfig, staticDirConfig } from '../../../src/config/index.js';
import { FAKE_MODULES } from './fake-modules.js';

const FIXTURES = fileURLToPath(new URL('../../../../tests/fixtures/configs/', import.meta.url));
const HOME = '/home/tester';
const options = { env: {}, homeDir: HOME, baseDir: '/etc/anomaly' };

describe('defaults', () => {
  const minimal = 'sites:\n  - routes:\n      - respond: {}\n';

  it('fills every default', () => {
    const config = parseConfig(minimal, 'min.yaml', FAKE_MODULES, options);
    assert.deepEqual(config.listen, { tls: 8443, plain: null, address: '::', http3: true });
    assert.equal(config.storage, join(HOME, '.local/share/anomaly'));
    assert.deepEqual(config.log, { level: 'info', format: 'auto', access: true });
    assert.deepEqual(config.limits, {
      maxBody: 10 * 1024 * 1024,
      maxHeaderSize: 16 * 1024,
      maxHeaders: 100,
      maxUri: 8 * 1024,
      maxConnectionsPerIp: 0,
      maxRequestsPerConnection: 0,
      headerTimeout: 10_000,
      requestTimeout: 60_000,
      idleTimeout: 60_000,
      drainTimeout: 10_000,
    });
    assert.deepEqual(config.limits, { ...DEFAULT_LIMITS });
    assert.equal(config.baseDir, '/etc/anomaly');
    assert.equal(config.sites.length, 1);
    const [site] = config.sites;
    assert.deepEqual({ name: site.name, hosts: site.hosts, tls: site.tls }, { name: 'default', hosts: [], tls: null });
    assert.deepEqual(site.limits, config.limits);
    assert.deepEqual(site.routes, [{ path: '/*', methods: null, module: 'respond', config: {}, where: 'min.yaml:3', cache: null }]);
  });

  it('takes the storage default from ANOMALY_DATA_DIR, and an explicit storage over both', () => {
    assert.equal(parseConfig(minimal, 'a.yaml', FAKE_MODULES, { ...options, env: { ANOMALY_DATA_DIR: '/var/lib/anomaly' } }).storage, '/var/lib/anomaly');
    const explicit = `storage: ./state\n${minimal}`;
    assert.equal(parseConfig(explicit, 'a.yaml', FAKE_MODULES, { ...options, env: { ANOMALY_DATA_DIR: '/x' } }).storage, '/etc/anomaly/state');
    assert.equal(parseConfig(`storage: ~/data\n${minimal}`, 'a.yaml', FAKE_MODULES, options).storage, join(HOME, 'data'));
  });

  it('site limits inherit server limits and override single fields', () => {
    const text = 'limits: {max_body: 2mb, idle_timeout: 5s}\nsites:\n  - limits: {max_body: 1kb}\n    routes: [{respond: {}}]\n';
    const config = parseConfig(text, 'a.yaml', FAKE_MODULES, options);
    assert.equal(config.limits.maxBody, 2 * 1024 * 1024);
    assert.equal(config.sites[0].limits.maxBody, 1024);
    assert.equal(config.sites[0].limits.idleTimeout, 5000);
    assert.equal(config.sites[0].limits.maxHeaders, 100);
  });

  it('listen.tls false turns TLS off when a plain port is set', () => {
    const config = parseConfig(`listen: {tls: false, plain: 8080}\n${minimal}`, 'a.yaml', FAKE_MODULES, options);
    assert.deepEqual(config.listen, { tls: null, plain: 8080, address: '::', http3: true });
    assert.equal(parseConfig(`listen: {tls: 0, plain: 0}\n${minimal}`, 'a.yaml', FAKE_MODULES, options).listen.tls, 0);
  });

  it('the file name gives source and baseDir; "<virtual>" names have no source', () => {
    const fromFile = parseConfig(minimal, '/srv/conf/anomaly.yaml', FAKE_MODULES);
    assert.equal(fromFile.source, '/srv/conf/anomaly.yaml');
    assert.equal(fromFile.baseDir, '/srv/conf');
    const virtual = parseConfig(minimal, '<test>', FAKE_MODULES);
    assert.equal(virtual.source, null);
    assert.equal(virtual.baseDir, process.cwd());
  });
});

describe('full example', () => {
  it('normalises every documented key', async () => {
    const config = await loadConfigFile(FIXTURES + 'full.yaml', FAKE_MODULES, { env: {}, homeDir: HOME });
    const dir = FIXTURES.replace(/\/$/, '');
    assert.equal(config.source, join(dir, 'full.yaml'));
    assert.equal(config.baseDir, dir);
    assert.deepEqual(config.listen, { tls: 9443, plain: 9080, address: '127.0.0.1', http3: false });
    assert.equal(config.storage, join(dir, 'state'));
    assert.deepEqual(config.log, { level: 'debug', format: 'json', access: false });
    assert.deepEqual(config.limits, {
      maxBody: 20 * 1024 * 1024,
      maxHeaderSize: 32 * 1024,
      maxHeaders: 50,
      maxUri: 4 * 1024,
      maxConnectionsPerIp: 100,
      maxRequestsPerConnection: 1000,
      headerTimeout: 5000,
      requestTimeout: 120_000,
      idleTimeout: 30_000,
      drainTimeout: 500,
    });
    const [named, fallback] = config.sites;
    assert.equal(named.name, 'localhost');
    assert.deepEqual(named.hosts, ['localhost', '*.example.com']);
    assert.deepEqual(named.tls, { cert: join(dir, 'certs/example.pem'), key: join(dir, 'certs/example.key') });
    assert.deepEqual(named.limits, { ...config.limits, maxBody: 1024 * 1024 });
    assert.deepEqual(
      named.routes.map((r) => [r.path, r.methods, r.module, r.where]),
      [
        ['/hello', ['GET', 'HEAD'], 'respond', `${FIXTURES}full.yaml:29`],
        ['/users/:id', null, 'respond', `${FIXTURES}full.yaml:32`],
        ['/old/*', null, 'redirect', `${FIXTURES}full.yaml:34`],
        ['/files/*rest', null, 'redirect', `${FIXTURES}full.yaml:36`],
        ['/*', null, 'static', `${FIXTURES}full.yaml:38`],
      ],
    );
    assert.deepEqual(named.routes[0].config, { status: 200, body: 'hello\n', headers: { 'content-type': 'text/plain' } });
    assert.deepEqual(named.routes[2].config, { to: '/new/', status: 301 });
    // Handler blocks are passed as written: modules resolve their own paths against baseDir.
    assert.equal((named.routes[4].config as { root: string }).root, './public');
    assert.equal(fallback.name, 'default');
    assert.deepEqual(fallback.hosts, []);
    assert.deepEqual(fallback.routes[0].config, { root: '/srv/www' });
  });

  it('JSON input works and is the same config as the equivalent YAML', () => {
    const fromJson = parseConfig(readFileSync(FIXTURES + 'good.json', 'utf8'), 'good.json', FAKE_MODULES, options);
    const fromYaml = parseConfig('listen: {tls: false, plain: 8080}\nsites:\n  - hosts: [localhost]\n    routes:\n      - path: /\n        respond: {body: hi}\n', 'good.json', FAKE_MODULES, options);
    const withoutWhere = (c: typeof fromJson) => ({ ...c, sites: c.sites.map((s) => ({ ...s, routes: s.routes.map((r) => ({ ...r, where: '' })) })) });
    assert.deepEqual(withoutWhere(fromJson), withoutWhere(fromYaml));
    assert.equal(fromJson.sites[0].routes[0].where, 'good.json:4');
  });

  it('methods are upper-cased once each; a parser can be reused', () => {
    const parser = createConfigParser(FAKE_MODULES);
    const config = parser.parse('sites:\n  - routes:\n      - {path: /a, methods: [get, GET, post], respond: {}}\n', 'a.yaml', options);
    assert.deepEqual(config.sites[0].routes[0].methods, ['GET', 'POST']);
    assert.equal(parser.parse('sites: [{routes: [{respond: {}}]}]', 'b.yaml', options).sites.length, 1);
  });
});

describe('built-in configs', () => {
  it('demoConfig: TLS 8443 and plain 8080, /hello and the demo site', () => {
    const config = demoConfig('/opt/anomaly', FAKE_MODULES);
    assert.equal(config.source, null);
    assert.equal(config.baseDir, '/opt/anomaly');
    assert.deepEqual(config.listen, { tls: 8443, plain: 8080, address: '::', http3: true });
    assert.equal(config.sites.length, 1);
    assert.deepEqual(config.sites[0].hosts, []);
    assert.deepEqual(
      config.sites[0].routes.map((r) => ({ path: r.path, module: r.module, config: r.config })),
      [
        { path: '/hello', module: 'respond', config: { status: 200, body: 'hello from anomaly\n', headers: { 'content-type': 'text/plain; charset=utf-8' } } },
        { path: '/*', module: 'static', config: { root: '/opt/anomaly/examples/demo/public' } },
      ],
    );
    assert.equal(config.sites[0].routes[0].where, '<embedded demo>:6');
  });

  it('demoConfig works without modules (open schemas) and with odd characters in the path', () => {
    const config = demoConfig('/tmp/a "quoted": dir');
    assert.deepEqual(config.sites[0].routes[1].config, { root: '/tmp/a "quoted": dir/examples/demo/public' });
  });

  it('staticDirConfig serves one directory', () => {
    const config = staticDirConfig('/srv/site', { plain: 8080, listing: true }, FAKE_MODULES);
    assert.equal(config.source, null);
    assert.deepEqual(config.listen, { tls: 8443, plain: 8080, address: '::', http3: true });
    assert.deepEqual(config.sites[0].routes.map((r) => [r.path, r.module, r.config]), [['/*', 'static', { root: '/srv/site', listing: true }]]);
    const defaults = staticDirConfig('relative/dir', {});
    assert.deepEqual(defaults.listen, { tls: 8443, plain: null, address: '::', http3: true });
    assert.deepEqual(defaults.sites[0].routes[0].config, { root: join(process.cwd(), 'relative/dir') });
  });
});
