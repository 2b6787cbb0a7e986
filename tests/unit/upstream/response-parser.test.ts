import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResponseParser, type ResponseEvents } from '../../../src/upstream/response-parser.js';

interface Seen {
  heads: Array<[number, string[]]>;
  body: string;
  ends: boolean[];
  errors: string[];
}

function parser(noBody = false): { p: ResponseParser; seen: Seen } {
  const seen: Seen = { heads: [], body: '', ends: [], errors: [] };
  const events: ResponseEvents = {
    head: (status, raw) => seen.heads.push([status, raw]),
    data: (chunk) => (seen.body += chunk.toString('latin1')),
    end: (reusable) => seen.ends.push(reusable),
    error: (err) => seen.errors.push(err.message),
  };
  const p = new ResponseParser(events);
  p.start(noBody);
  return { p, seen };
}

/** Feeds `text` whole, then byte by byte into a fresh parser: both must agree. */
function both(text: string, noBody = false): Seen {
  const whole = parser(noBody);
  whole.p.feed(Buffer.from(text, 'latin1'));
  const split = parser(noBody);
  for (let i = 0; i < text.length; i++) split.p.feed(Buffer.from(text[i], 'latin1'));
  assert.deepEqual(split.seen, whole.seen, 'byte-by-byte feeding must give the same events');
  return whole.seen;
}

describe('ResponseParser', () => {
  it('reads a Content-Length answer; the connection is reusable', () => {
    const s = both('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello');
    assert.deepEqual(s.heads, [[200, ['Content-Type', 'text/plain', 'Content-Length', '5']]]);
    assert.equal(s.body, 'hello');
    assert.deepEqual(s.ends, [true]);
  });

  it('decodes chunked bodies with extensions and trailers', () => {
    const s = both('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n1\r\n!\r\n0\r\nX-Sum: 1\r\n\r\n');
    assert.equal(s.body, 'hello!');
    assert.deepEqual(s.ends, [true]);
    assert.deepEqual(s.errors, []);
  });

  it('skips interim answers and ends HEAD, 204 and 304 answers at their head', () => {
    const s = both('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n');
    assert.deepEqual(s.heads.map((h) => h[0]), [204]);
    assert.deepEqual(s.ends, [true]);
    const head = both('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n', true);
    assert.deepEqual([head.body, head.ends], ['', [true]]);
  });

  it('reads to the close when there is no framing, and never reuses that connection', () => {
    const { p, seen } = parser();
    p.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nsome'));
    p.feed(Buffer.from(' bytes'));
    assert.deepEqual(seen.ends, []);
    p.eof();
    assert.equal(seen.body, 'some bytes');
    assert.deepEqual(seen.ends, [false]);
  });

  it('does not reuse after "connection: close" or an HTTP/1.0 answer', () => {
    assert.deepEqual(both('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n').ends, [false]);
    assert.deepEqual(both('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n').ends, [false]);
  });

  const malformed: Array<[string, string]> = [
    ['CL and TE', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['differing CLs', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['CL with a sign', 'HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc'],
    ['bad status line', 'HTTP/1.1 2000 OK\r\n\r\n'],
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n'],
    ['bare CR in a value', 'HTTP/1.1 200 OK\r\nX-A: b\rc\r\nContent-Length: 0\r\n\r\n'],
    ['chunk size not hex', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['chunk longer than its size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n'],
    ['protocol switch', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
  ];
  for (const [name, text] of malformed) {
    it(`refuses ${name}`, () => {
      const s = both(text);
      assert.equal(s.errors.length, 1, JSON.stringify(s));
      assert.deepEqual(s.ends, []);
    });
  }

  it('refuses bytes after a complete answer (an unsolicited second answer)', () => {
    const s = both('HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\n\r\n');
    assert.deepEqual(s.ends, [true]);
    assert.equal(s.errors.length, 1);
  });

  it('refuses a head over 64 KiB and an early close', () => {
    const big = parser();
    big.p.feed(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`));
    assert.match(big.seen.errors[0] ?? '', /too large/);
    const early = parser();
    early.p.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    early.p.eof();
    assert.match(early.seen.errors[0] ?? '', /closed/);
  });
});
