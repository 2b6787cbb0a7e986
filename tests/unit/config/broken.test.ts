import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AnomalyError } from '../../../src/core/errors.js';
import { ConfigError, loadConfigFile, parseConfig } from '../../../src/config/index.js';
import { FAKE_MODULES } from './fake-modules.js';

const FIXTURES = fileURLToPath(new URL('../../../../tests/fixtures/configs/', import.meta.url));

function errorOf(name: string): ConfigError {
  const text = readFileSync(FIXTURES + name, 'utf8');
  try {
    parseConfig(text, name, FAKE_MODULES);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.ok(err instanceof AnomalyError);
    return err;
  }
  assert.fail(`${name} was accepted`);
}

/** Each broken fixture has one mistake and gives exactly one line naming file:line:column and field. */
const ONE_MISTAKE: ReadonlyArray<[file: string, code: string, message: string]> = [
  [
    'broken-syntax.yaml',
    'ANOMALY_E_CONFIG_SYNTAX',
    'broken-syntax.yaml:7:1: YAML syntax error: a block sequence may not be used as an implicit map key (check the indentation; quote values that contain ": ")',
  ],
  ['broken-type.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-type.yaml:8:11: sites[0].routes[1].static.root: must be a string, got 12'],
  ['broken-unknown-key.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-unknown-key.yaml:7:9: sites[0].routes[0]: unknown field "statc" (did you mean "static"?)'],
  ['broken-missing-required.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-missing-required.yaml:4:9: sites[0].routes[0].redirect: missing required field "to"'],
  ['broken-port.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-port.yaml:4:3: listen.tls: must be a port number 0-65535 or false, got "84a3"'],
  [
    'broken-duration.yaml',
    'ANOMALY_E_CONFIG_INVALID',
    'broken-duration.yaml:3:3: limits.header_timeout: must be a duration: a number of milliseconds or a string like "500ms", "10s", "2m", "1h", "30d"; got "10 sec"',
  ],
  [
    'broken-two-handlers.yaml',
    'ANOMALY_E_CONFIG_INVALID',
    'broken-two-handlers.yaml:5:9: sites[0].routes[0]: more than one handler (respond, static): a route has exactly one of static, respond, redirect',
  ],
  ['broken-duplicate-host.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-duplicate-host.yaml:5:13: sites[1].hosts[0]: duplicate host "example.com": sites[0] already has it'],
  ['broken-route-path.yaml', 'ANOMALY_E_CONFIG_INVALID', 'broken-route-path.yaml:3:9: sites[0].routes[0].path: "*" is only allowed in the last segment, got "/files/*/edit"'],
  ['broken.json', 'ANOMALY_E_CONFIG_INVALID', 'broken.json:4:70: sites[0].routes[0].respond: unknown field "stauts" (did you mean "status"?)'],
];

describe('broken configs', () => {
  for (const [file, code, message] of ONE_MISTAKE) {
    it(`${file}: one clear line`, () => {
      const err = errorOf(file);
      assert.equal(err.code, code);
      assert.equal(err.message, message);
      assert.equal(err.problems.length, 1);
    });
  }

  it('carries structured problems', () => {
    const err = errorOf('broken-type.yaml');
    assert.deepEqual(err.problems, [
      { file: 'broken-type.yaml', line: 8, column: 11, field: 'sites[0].routes[1].static.root', message: 'must be a string, got 12' },
    ]);
    assert.equal(err.name, 'ConfigError');
  });

  it('reports every independent mistake once, in file order', () => {
    assert.equal(
      errorOf('broken-several.yaml').message,
      [
        'broken-several.yaml:2:3: listen.tls: TLS is turned off, so listen.plain must be set to a port (otherwise nothing listens)',
        'broken-several.yaml:4:3: log.level: must be one of "trace", "debug", "info", "warn", "error", "fatal", "silent", got "verbos"',
        'broken-several.yaml:6:13: sites[0].hosts[0]: invalid host "a.*.example.com": "*" is only allowed as a leading "*." (like "*.example.com")',
        'broken-several.yaml:8:9: sites[0].routes[0]: no handler: a route needs one of static, respond, redirect',
        'broken-several.yaml:10:20: sites[1].routes[0].respond.status: must be >= 100, got 99',
        'broken-several.yaml:11:5: sites[2]: a second default site (no "hosts"): sites[1] is already the default',
      ].join('\n'),
    );
  });

  it('loadConfigFile names the path it was given, and read errors are READ', async () => {
    await assert.rejects(loadConfigFile(FIXTURES + 'broken-port.yaml', FAKE_MODULES), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.message, `${FIXTURES}broken-port.yaml:4:3: listen.tls: must be a port number 0-65535 or false, got "84a3"`);
      return true;
    });
    await assert.rejects(loadConfigFile(FIXTURES + 'missing.yaml', FAKE_MODULES), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'ANOMALY_E_CONFIG_READ');
      assert.equal(err.message, `${FIXTURES}missing.yaml: cannot read config: no such file`);
      assert.deepEqual(err.problems, [{ file: `${FIXTURES}missing.yaml`, line: 0, column: 0, field: '', message: 'cannot read config: no such file' }]);
      return true;
    });
    await assert.rejects(loadConfigFile(FIXTURES, FAKE_MODULES), /cannot read config: it is a directory, not a file/);
  });
});

function messageOf(text: string): string {
  try {
    parseConfig(text, 'x.yaml', FAKE_MODULES);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  assert.fail('accepted');
}

describe('inline mistakes', () => {
  const site = 'sites:\n  - routes:\n      - respond: {}\n';

  it('empty file', () => {
    assert.equal(messageOf(''), 'x.yaml:1:1: the config is empty: it needs at least "sites" (see docs/configuration.md)');
    assert.equal(messageOf('# nothing\n'), 'x.yaml:1:1: the config is empty: it needs at least "sites" (see docs/configuration.md)');
  });

  it('top level that is not a map, and missing sites', () => {
    assert.equal(messageOf('- a\n'), 'x.yaml:1:1: must be a map, got a list');
    assert.equal(messageOf('listen: {tls: 1}\n'), 'x.yaml:1:1: missing required field "sites"');
  });

  it('unknown top-level key with and without a suggestion', () => {
    assert.equal(messageOf(`${site}limit: {}\n`), 'x.yaml:4:1: unknown field "limit" (did you mean "limits"?)');
    // The list grows with the sections the server knows; what matters is that it is there.
    assert.match(messageOf(`${site}zzz: 1\n`), /^x\.yaml:4:1: unknown field "zzz" \(known fields: listen, storage, (\w+, )*log, limits, sites\)$/);
  });

  it('an unknown handler lists the known ones', () => {
    assert.equal(
      messageOf('sites:\n  - routes:\n      - path: /\n        proxy: {}\n'),
      'x.yaml:4:9: sites[0].routes[0]: unknown field "proxy": a route has "path", "methods" and one handler (static, respond, redirect)',
    );
  });

  it('size, enum and port mistakes', () => {
    assert.equal(
      messageOf(`${site}limits: {max_body: 10 megs}\n`),
      'x.yaml:4:10: limits.max_body: must be a size: a number of bytes or a string like "512b", "16kb", "10mb", "1gb"; got "10 megs"',
    );
    assert.equal(messageOf(`log: {format: jsn}\n${site}`), 'x.yaml:1:7: log.format: must be one of "auto", "pretty", "json", got "jsn" (did you mean "json"?)');
    assert.equal(messageOf(`listen: {plain: 70000}\n${site}`), 'x.yaml:1:10: listen.plain: must be a port number 0-65535, or false for none, got 70000');
    assert.equal(messageOf(`listen: {tls: true}\n${site}`), 'x.yaml:1:10: listen.tls: must be a port number 0-65535 or false, got true');
    assert.equal(messageOf(`listen: {tls: 8080, plain: 8080}\n${site}`), 'x.yaml:1:21: listen.plain: same port as listen.tls (8080)');
  });

  it('one problem for a value of the wrong type, not one per rule', () => {
    assert.equal(messageOf(`log: {level: 3}\n${site}`), 'x.yaml:1:7: log.level: must be a string, got 3');
    assert.equal(messageOf('sites:\n  - hosts: localhost\n    routes: [{respond: {}}]\n'), 'x.yaml:2:5: sites[0].hosts: must be a list, got "localhost"');
    assert.equal(messageOf('sites:\n  - hosts: [3]\n    routes: [{respond: {}}]\n'), 'x.yaml:2:13: sites[0].hosts[0]: must be a string, got 3');
  });

  it('an empty hosts list says how to make a default site', () => {
    assert.equal(messageOf('sites:\n  - hosts: []\n    routes: [{respond: {}}]\n'), 'x.yaml:2:5: sites[0].hosts: must not be empty (omit "hosts" for the default site)');
  });

  it('the same host twice in one site, and case-insensitive duplicates', () => {
    assert.equal(
      messageOf('sites:\n  - hosts: [a.com, A.com]\n    routes: [{respond: {}}]\n'),
      'x.yaml:2:20: sites[0].hosts[1]: host "a.com" is listed twice in this site',
    );
  });

  it('YAML-level mistakes', () => {
    assert.equal(messageOf('a: 1\na: 2\n'), 'x.yaml:2:1: YAML syntax error: duplicate key "a" (keys must be unique in a map)');
    assert.equal(messageOf('a:\n\tb: 1\n'), 'x.yaml:2:1: YAML syntax error: tabs are not allowed as indentation (indent with spaces)');
    assert.equal(messageOf('sites: *nope\n'), 'x.yaml:1:8: YAML syntax error: unknown alias *nope (define the anchor &nope before using it)');
    assert.equal(messageOf('a: 1\n---\nb: 2\n'), 'x.yaml:2:1: YAML syntax error: more than one YAML document ("---"): a config is one document');
  });

  it('x- keys hold anchors; problems inside merged maps point at the merged-in key', () => {
    const text = 'x-common: &common\n  status: 99\nsites:\n  - routes:\n      - respond:\n          <<: *common\n          body: hi\n';
    assert.equal(messageOf(text), 'x.yaml:2:3: sites[0].routes[0].respond.status: must be >= 100, got 99');
  });
});
