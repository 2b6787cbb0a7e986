import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { altSvcFor } from '../../../src/protocols/http3/alt-svc.js';
import { ensureLocalCA } from '../../../src/tls/local-ca.js';

describe('altSvcFor', () => {
  it('advertises h3 only for hosts the HTTP/3 certificate covers', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'anomaly-altsvc-'));
    try {
      const ca = await ensureLocalCA(dir);
      const { cert } = await ca.issue(['localhost', '*.example.test', '127.0.0.1', '::1']);
      const alt = altSvcFor(cert, 8443);
      const value = 'h3=":8443"; ma=86400';
      assert.equal(alt('localhost'), value);
      assert.equal(alt('a.example.test'), value);
      assert.equal(alt('127.0.0.1'), value);
      assert.equal(alt('[::1]'), value);
      assert.equal(alt(''), value, 'no Host: the default certificate is what the client gets');
      assert.equal(alt('other.test'), null);
      assert.equal(alt('a.b.example.test'), null, 'a wildcard covers one label');
      for (let i = 0; i < 3000; i++) alt(`h${i}.invalid`); // bounded cache, still correct after clearing
      assert.equal(alt('localhost'), value);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('without a parsable certificate it advertises for every host', () => {
    assert.equal(altSvcFor('not a certificate', 443)('any.test'), 'h3=":443"; ma=86400');
  });
});
