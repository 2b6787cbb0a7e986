import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePreconditions, ifRangeAllows, makeEtag, noneMatchHits, splitTags } from '../../../src/handlers/static/conditional.js';
import { chooseCoding, parseAcceptEncoding } from '../../../src/handlers/static/encoding.js';
import { coalesce, multipartBytes, parseRange, MAX_RANGES } from '../../../src/handlers/static/range.js';
import { parseSize } from '../../../src/handlers/static/config.js';

test('etag looks like nginx', () => {
  assert.equal(makeEtag(1700000000_123, 1024), '"6553f100-400"');
  assert.equal(makeEtag(1700000000_123, 1024, '-br'), '"6553f100-400-br"');
});

test('If-None-Match: weak comparison, lists, star', () => {
  const e = '"abc-1"';
  assert.ok(noneMatchHits('"abc-1"', e));
  assert.ok(noneMatchHits('W/"abc-1"', e));
  assert.ok(noneMatchHits('"x", W/"abc-1" , "y"', e));
  assert.ok(noneMatchHits('*', e));
  assert.ok(!noneMatchHits('"abc-2"', e));
  assert.deepEqual(splitTags('"a,b", W/"c"'), ['"a,b"', 'W/"c"']);
});

const v = { etag: '"e"', mtimeSec: 1_700_000_000 };
const at = (sec: number) => new Date(sec * 1000).toUTCString();

test('preconditions in RFC 9110 order', () => {
  const none = { ifMatch: undefined, ifNoneMatch: undefined, ifModifiedSince: undefined, ifUnmodifiedSince: undefined };
  assert.equal(evaluatePreconditions(none, v), 0);
  assert.equal(evaluatePreconditions({ ...none, ifNoneMatch: '"e"' }, v), 304);
  assert.equal(evaluatePreconditions({ ...none, ifModifiedSince: at(v.mtimeSec) }, v), 304);
  assert.equal(evaluatePreconditions({ ...none, ifModifiedSince: at(v.mtimeSec - 1) }, v), 0);
  assert.equal(evaluatePreconditions({ ...none, ifModifiedSince: 'garbage' }, v), 0);
  // If-Modified-Since is ignored when If-None-Match is present
  assert.equal(evaluatePreconditions({ ...none, ifNoneMatch: '"other"', ifModifiedSince: at(v.mtimeSec) }, v), 0);
  assert.equal(evaluatePreconditions({ ...none, ifMatch: '"other"' }, v), 412);
  assert.equal(evaluatePreconditions({ ...none, ifMatch: 'W/"e"' }, v), 412); // strong comparison
  assert.equal(evaluatePreconditions({ ...none, ifMatch: '"e"' }, v), 0);
  assert.equal(evaluatePreconditions({ ...none, ifMatch: '*' }, v), 0);
  assert.equal(evaluatePreconditions({ ...none, ifUnmodifiedSince: at(v.mtimeSec - 10) }, v), 412);
  assert.equal(evaluatePreconditions({ ...none, ifUnmodifiedSince: at(v.mtimeSec) }, v), 0);
});

test('If-Range: strong etag or exact date', () => {
  assert.ok(ifRangeAllows('"e"', v, at(v.mtimeSec)));
  assert.ok(!ifRangeAllows('W/"e"', v, at(v.mtimeSec)));
  assert.ok(!ifRangeAllows('"f"', v, at(v.mtimeSec)));
  assert.ok(ifRangeAllows(at(v.mtimeSec), v, at(v.mtimeSec)));
  assert.ok(!ifRangeAllows(at(v.mtimeSec - 5), v, at(v.mtimeSec)));
});

test('Range parsing', () => {
  assert.deepEqual(parseRange('bytes=0-99', 1000), [{ start: 0, end: 100 }]);
  assert.deepEqual(parseRange('bytes=100-', 1000), [{ start: 100, end: 1000 }]);
  assert.deepEqual(parseRange('bytes=-500', 1000), [{ start: 500, end: 1000 }]);
  assert.deepEqual(parseRange('bytes=-5000', 1000), [{ start: 0, end: 1000 }]);
  assert.deepEqual(parseRange('bytes=990-5000', 1000), [{ start: 990, end: 1000 }]);
  assert.deepEqual(parseRange('Bytes = 0-0 , 5-9', 1000), [{ start: 0, end: 1 }, { start: 5, end: 10 }]);
  assert.equal(parseRange('bytes=1000-', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 1000), 'unsatisfiable');
  assert.equal(parseRange('bytes=0-1', 0), 'unsatisfiable');
  assert.deepEqual(parseRange('bytes=2000-3000, 0-1', 1000), [{ start: 0, end: 2 }]);
  // ignored (serve 200): bad syntax, other units
  assert.equal(parseRange('bytes=5-1', 1000), null);
  assert.equal(parseRange('bytes=abc', 1000), null);
  assert.equal(parseRange('items=0-1', 1000), null);
  assert.equal(parseRange('bytes=', 1000), null);
  assert.equal(parseRange('bytes=0-1-2', 1000), null);
});

test('Range abuse: too many ranges are ignored, overlapping ones coalesced', () => {
  const many = 'bytes=' + Array.from({ length: MAX_RANGES + 1 }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
  assert.equal(parseRange(many, 100_000), null);
  assert.deepEqual(parseRange('bytes=0-99,0-99,0-99,50-150', 1000), [{ start: 0, end: 151 }]);
  assert.deepEqual(parseRange('bytes=500-600,0-10', 1000), [{ start: 500, end: 601 }, { start: 0, end: 11 }]); // order kept
  assert.deepEqual(coalesce([{ start: 10, end: 20 }, { start: 0, end: 10 }]), [{ start: 0, end: 20 }]); // adjacent
});

test('multipart/byteranges body', () => {
  const bytes = Buffer.from('0123456789');
  const body = multipartBytes(bytes, [{ start: 0, end: 2 }, { start: 8, end: 10 }], 'B', 'text/plain').toString();
  assert.equal(
    body,
    '--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 0-1/10\r\n\r\n01' +
      '\r\n--B\r\ncontent-type: text/plain\r\ncontent-range: bytes 8-9/10\r\n\r\n89\r\n--B--\r\n',
  );
});

test('Accept-Encoding negotiation', () => {
  const choose = (h: string, br = true, gz = true) => chooseCoding(parseAcceptEncoding(h), br, gz);
  assert.equal(choose('gzip, deflate, br'), 'br');
  assert.equal(choose('gzip, deflate, br', false, true), 'gzip');
  assert.equal(choose('gzip, deflate, br', false, false), 'identity');
  assert.equal(choose('br;q=0.5, gzip'), 'gzip');
  assert.equal(choose('br;q=0, gzip;q=0'), 'identity');
  assert.equal(choose('*'), 'br');
  assert.equal(choose('*;q=0.5, gzip'), 'gzip');
  assert.equal(choose('identity'), 'identity');
  assert.equal(choose(''), 'identity');
  assert.equal(choose('GZIP'), 'gzip');
  assert.equal(choose('x-gzip'), 'gzip');
  assert.equal(choose('identity;q=0, gzip;q=0.1', false, true), 'gzip');
  assert.equal(choose('identity;q=0', false, false), null);
  assert.equal(choose('*;q=0', false, false), null);
  assert.equal(choose('gzip;q=1.0, identity; q=0.5, *;q=0'), 'gzip');
});

test('parseSize', () => {
  assert.equal(parseSize('256kb'), 256 * 1024);
  assert.equal(parseSize('1.5MB'), 1.5 * 1024 * 1024);
  assert.equal(parseSize('10 b'), 10);
  assert.equal(parseSize('12'), 12);
  assert.equal(parseSize(42), 42);
  assert.ok(Number.isNaN(parseSize('ten')));
  assert.ok(Number.isNaN(parseSize(-1)));
});
