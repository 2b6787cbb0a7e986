import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkedEnd, headKeepsAlive, InvalidHeaderError, responseHead, type HeadOptions } from '../../../src/protocols/http1/response-head.js';

const base: HeadOptions = { status: 200, headers: {}, extra: [], host: 'a', framing: { length: 5 }, trailers: null, keepAlive: true, idleSeconds: 60 };
const lines = (o: Partial<HeadOptions>): string[] => {
  const head = responseHead({ ...base, ...o }).text;
  assert.ok(head.endsWith('\r\n\r\n'));
  return head.slice(0, -4).split('\r\n');
};

describe('responseHead', () => {
  it('writes the status line, the fields, length, date and keep-alive as node:http does', () => {
    const l = lines({ headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] } });
    assert.equal(l[0], 'HTTP/1.1 200 OK');
    assert.deepEqual(l.slice(1, 4), ['content-type: text/plain', 'set-cookie: a=1', 'set-cookie: b=2']);
    assert.ok(l.includes('content-length: 5'));
    assert.match(l.find((x) => x.startsWith('date: ')) ?? '', /^date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/);
    assert.ok(l.includes('connection: keep-alive'));
    assert.ok(l.includes('keep-alive: timeout=60'));
  });

  it('chooses the framing itself: a handler transfer-encoding or content-length never doubles it', () => {
    const l = lines({ headers: { 'transfer-encoding': 'chunked', 'content-length': '99' }, framing: { length: 5 } });
    assert.deepEqual(l.filter((x) => /^(content-length|transfer-encoding)/.test(x)), ['content-length: 5']);
    const c = lines({ framing: 'chunked', trailers: 'x-sum' });
    assert.ok(c.includes('transfer-encoding: chunked') && c.includes('trailer: x-sum'));
    const n = lines({ status: 304, framing: 'none', headers: { etag: '"1"' } });
    assert.equal(n.filter((x) => /^(content-length|transfer-encoding)/.test(x)).length, 0);
  });

  it('says close when the connection ends, and keeps the handler connection field and date', () => {
    assert.ok(lines({ keepAlive: false }).includes('connection: close'));
    const l = lines({ headers: { connection: 'close', date: 'x' } });
    assert.deepEqual(l.filter((x) => /^(connection|date|keep-alive)/.test(x)), ['connection: close', 'date: x']);
    assert.equal(headKeepsAlive({ connection: 'close' }, true), false);
    assert.equal(headKeepsAlive({}, true), true);
  });

  it('adds the server extra fields (alt-svc) per host', () => {
    const l = lines({ extra: [['alt-svc', (h: string) => (h === 'a' ? 'h3=":443"' : null)]] });
    assert.ok(l.includes('alt-svc: h3=":443"'));
    assert.ok(!lines({ host: 'b', extra: [['alt-svc', () => null]] }).some((x) => x.startsWith('alt-svc')));
  });

  it('refuses a field that would split the response or is not a token', () => {
    assert.throws(() => responseHead({ ...base, headers: { 'x-a': 'b\r\nx-evil: 1' } }), InvalidHeaderError);
    assert.throws(() => responseHead({ ...base, headers: { 'x-a': ['ok', 'b\nc'] } }), InvalidHeaderError);
    assert.throws(() => responseHead({ ...base, headers: { 'x a': 'b' } }), InvalidHeaderError);
    assert.doesNotThrow(() => responseHead({ ...base, headers: { 'x-a': 'caf\xe9\tok' } }));
  });

  it('says whether the head is ASCII, so a text body can share its write', () => {
    assert.equal(responseHead({ ...base, headers: { 'x-a': 'plain\tvalue' } }).ascii, true);
    assert.equal(responseHead({ ...base, headers: { 'x-a': ['ok', 'caf\xe9'] } }).ascii, false);
  });

  it('ends a chunked body with the valid trailer fields', () => {
    assert.equal(chunkedEnd(null), '0\r\n\r\n');
    assert.equal(chunkedEnd({ 'x-sum': 'abc', 'bad name': 'x', 'x-b': 'a\r\nb' }), '0\r\nx-sum: abc\r\n\r\n');
  });
});
