import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRequestHead } from '../../../src/protocols/http3/request-head.js';

const base = [':method', 'GET', ':scheme', 'https', ':authority', 'example.com', ':path', '/a?b=1'];

function reason(flat: string[]): string {
  const r = parseRequestHead(flat);
  assert.equal(r.ok, false, `expected malformed: ${JSON.stringify(flat)}`);
  return (r as { reason: string }).reason;
}

describe('parseRequestHead (RFC 9114 §4.3.1, §4.2)', () => {
  it('accepts a well-formed request and reads content-length', () => {
    const r = parseRequestHead([...base, 'content-length', '12', 'accept', '*/*']);
    assert.deepEqual(r, { ok: true, method: 'GET', scheme: 'https', authority: 'example.com', path: '/a?b=1', contentLength: 12, fieldCount: 2 });
  });

  it('falls back to host when :authority is absent', () => {
    const r = parseRequestHead([':method', 'GET', ':scheme', 'https', ':path', '/', 'host', 'h.test']);
    assert.equal(r.ok && r.authority, 'h.test');
  });

  it('rejects missing or empty pseudo-headers', () => {
    assert.match(reason([':scheme', 'https', ':path', '/']), /:method/);
    assert.match(reason([':method', 'GET', ':path', '/']), /:scheme/);
    assert.match(reason([':method', 'GET', ':scheme', 'https']), /:path/);
    assert.match(reason([':method', 'GET', ':scheme', 'https', ':path', '']), /:path/);
  });

  it('rejects repeated, unknown, response and misplaced pseudo-headers', () => {
    assert.match(reason([...base, ':path', '/again']), /repeated/);
    assert.match(reason([...base, ':protocol', 'websocket']), /after a regular|unknown/);
    assert.match(reason([':status', '200', ...base]), /unknown or response/);
    assert.match(reason([':method', 'GET', 'accept', '*/*', ':scheme', 'https', ':path', '/']), /after a regular field/);
  });

  it('rejects upper-case names, connection-specific fields and TE other than trailers', () => {
    assert.match(reason([...base, 'Accept', '*/*']), /upper-case/);
    for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']) {
      assert.match(reason([...base, name, 'x']), /connection-specific/);
    }
    assert.match(reason([...base, 'te', 'gzip']), /TE/);
    assert.equal(parseRequestHead([...base, 'te', 'trailers']).ok, true);
  });

  it('rejects bad or conflicting content-length, and :authority differing from host', () => {
    assert.match(reason([...base, 'content-length', '1x']), /invalid content-length/);
    assert.match(reason([...base, 'content-length', '-1']), /invalid content-length/);
    assert.match(reason([...base, 'content-length', '1', 'content-length', '2']), /conflicting/);
    assert.equal(parseRequestHead([...base, 'content-length', '3', 'content-length', '3']).ok, true);
    assert.match(reason([...base, 'host', 'other.test']), /differ/);
  });

  it('treats CONNECT as its own form (:authority only)', () => {
    assert.equal(parseRequestHead([':method', 'CONNECT', ':authority', 'h:443']).ok, true);
    assert.match(reason([':method', 'CONNECT', ':authority', 'h:443', ':path', '/']), /CONNECT/);
  });
});
