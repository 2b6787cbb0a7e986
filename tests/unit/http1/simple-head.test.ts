import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSimpleHead, type SimpleHead } from '../../../src/protocols/http1/simple-head.js';

const LIMITS = { maxUri: 8192, maxHeaders: 100, maxHeaderSize: 16384 };
const parse = (s: string, limits = LIMITS) => parseSimpleHead(s, limits);
const head = (s: string): SimpleHead => {
  const h = parse(s);
  assert.equal(typeof h, 'object', `expected a parsed head for ${JSON.stringify(s)}, got ${String(h)}`);
  return h as SimpleHead;
};

describe('parseSimpleHead', () => {
  it('parses a GET head: method, target, fields as received, host, end', () => {
    const s = 'GET /a/b?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8443\r\nUser-Agent: curl/8\r\nAccept:  */*  \r\n\r\nNEXT';
    const h = head(s);
    assert.equal(h.method, 'GET');
    assert.equal(h.target, '/a/b?x=1&y=%20');
    assert.deepEqual(h.raw, ['Host', 'example.com:8443', 'User-Agent', 'curl/8', 'Accept', '*/*']);
    assert.equal(h.host, 'example.com:8443');
    assert.equal(h.length, 0);
    assert.equal(h.close, false);
    assert.equal(s.slice(h.end), 'NEXT');
  });

  it('reads Content-Length and connection: close', () => {
    const h = head('POST /p HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\nConnection: Close\r\n\r\nhello');
    assert.equal(h.length, 5);
    assert.equal(h.close, true);
  });

  it('keeps obs-text bytes of a value as latin1, exactly as node:http does', () => {
    assert.deepEqual(head('GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n').raw.slice(2), ['X-Name', 'caf\xc3\xa9']);
  });

  it('says incomplete until the blank line has arrived', () => {
    assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\n'), 'incomplete');
    assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\n\r'), 'incomplete');
  });

  // Everything below is left to node:http (and head-rules.ts), which answers or refuses it.
  const others: Array<[string, string]> = [
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['unknown method', 'FOO / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['fragment', 'GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['non-ASCII target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['two spaces', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['no Host', 'GET / HTTP/1.1\r\nX: y\r\n\r\n'],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['invalid Host', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['CL and TE', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['two Content-Lengths', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd'],
    ['Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 4\r\n\r\nabcd'],
    ['Content-Length sign', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\nabcd'],
    ['Content-Length huge', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n'],
    ['Upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'],
    ['Expect', 'POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n'],
    ['other connection options', 'GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, TE\r\n\r\n'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n'],
    ['space in name', 'GET / HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n'],
    ['space before colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n'],
    ['no colon', 'GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n'],
    ['empty name', 'GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n'],
    ['NUL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c\r\n\r\n'],
    ['CR in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n'],
    ['bare LF line ends', 'GET / HTTP/1.1\nHost: a\n\n\r\n\r\n'],
    ['bare LF inside a field', 'GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n'],
    ['vertical tab', 'GET / HTTP/1.1\r\nHost: a\r\nX: \x0bb\r\n\r\n'],
  ];
  for (const [name, raw] of others) {
    it(`leaves to node:http: ${name}`, () => assert.equal(parse(raw), 'other'));
  }

  it('leaves oversize targets and header sections to node:http (414 and 431 there)', () => {
    const limits = { maxUri: 10, maxHeaders: 2, maxHeaderSize: 40 };
    assert.equal(parse('GET /0123456789a HTTP/1.1\r\nHost: a\r\n\r\n', limits), 'other');
    assert.equal(typeof parse('GET /012345678 HTTP/1.1\r\nHost: a\r\n\r\n', limits), 'object');
    assert.equal(parse('GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n', limits), 'other');
    assert.equal(parse(`GET / HTTP/1.1\r\nHost: a\r\nA: ${'x'.repeat(40)}\r\n\r\n`, limits), 'other');
  });
});
