import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCacheControl } from '../../../src/cache/cache-control.js';
import { compileKey, varyValues } from '../../../src/cache/key.js';
import { currentAge, freshnessLifetime, initialAge, makeEntry, notStorableReason, storedHeaders } from '../../../src/cache/policy.js';
import { decodeEntry, encodeEntry } from '../../../src/cache/entry.js';
import { POLICY, request } from './helpers.js';

const T = Date.parse('2026-01-01T00:00:00Z');
const date = (ms: number) => new Date(ms).toUTCString();
const facts = { method: 'GET', authorization: false, directives: parseCacheControl(undefined) };

describe('Cache-Control parsing', () => {
  it('reads every directive a shared cache uses, case-insensitive, with quoted values', () => {
    const d = parseCacheControl('Public, MAX-AGE=60, s-maxage="120", must-revalidate, no-cache="set-cookie, x", stale-while-revalidate=5, stale-if-error=9');
    assert.equal(d.public, true);
    assert.equal(d.maxAge, 60);
    assert.equal(d.sMaxAge, 120);
    assert.equal(d.mustRevalidate, true);
    assert.equal(d.noCache, true);
    assert.equal(d.staleWhileRevalidate, 5);
    assert.equal(d.staleIfError, 9);
  });
  it('reads invalid or negative delta-seconds as 0, and max-stale without a value as unlimited', () => {
    assert.equal(parseCacheControl('max-age=-5').maxAge, 0);
    assert.equal(parseCacheControl('max-age=abc').maxAge, 0);
    assert.equal(parseCacheControl('max-stale').maxStale, Infinity);
    assert.equal(parseCacheControl(['no-store', 'private']).private, true);
  });
});

describe('freshness (RFC 9111 §4.2)', () => {
  it('prefers s-maxage, then max-age, then Expires minus Date', () => {
    const cc = (v: string) => parseCacheControl(v);
    assert.equal(freshnessLifetime(200, {}, cc('max-age=10, s-maxage=20'), T, POLICY), 20_000);
    assert.equal(freshnessLifetime(200, {}, cc('max-age=10'), T, POLICY), 10_000);
    assert.equal(freshnessLifetime(200, { date: date(T), expires: date(T + 30_000) }, cc(''), T, POLICY), 30_000);
    assert.equal(freshnessLifetime(200, { date: date(T), expires: 'garbage' }, cc(''), T, POLICY), 0);
  });
  it('uses the Last-Modified heuristic (10%) only for heuristically cacheable statuses, and default_ttl before it', () => {
    const h = { date: date(T), 'last-modified': date(T - 100_000_000) };
    assert.equal(freshnessLifetime(200, h, parseCacheControl(''), T, POLICY), 10_000_000);
    assert.equal(freshnessLifetime(302, h, parseCacheControl(''), T, POLICY), 0);
    assert.equal(freshnessLifetime(200, h, parseCacheControl(''), T, { ...POLICY, heuristic: false }), 0);
    assert.equal(freshnessLifetime(200, {}, parseCacheControl(''), T, { ...POLICY, defaultTtl: 7000 }), 7000);
  });
  it('computes the corrected initial age from Age, Date and the response delay', () => {
    // Age 10 s, sent 2 s before we received it after a 1 s round trip: max(apparent 2, 10 + 1).
    assert.equal(initialAge({ age: '10', date: date(T - 2000) }, T - 1000, T), 11_000);
    // A clock-skewed Date in the future does not make the age negative.
    assert.equal(initialAge({ date: date(T + 60_000) }, T, T), 0);
    const entry = makeEntry('k', 200, { 'cache-control': 'max-age=60', age: '5', date: date(T) }, new Uint8Array(), T, T, POLICY);
    assert.equal(currentAge(entry, T + 10_000), 15_000);
    assert.equal(entry.lifetime, 60_000);
  });
  it('no-cache stores with lifetime 0 and forbids stale use; s-maxage implies proxy-revalidate', () => {
    const a = makeEntry('k', 200, { 'cache-control': 'no-cache, stale-while-revalidate=60', etag: '"x"' }, new Uint8Array(), T, T, POLICY);
    assert.equal(a.lifetime, 0);
    assert.equal(a.mustRevalidate, true);
    assert.equal(a.swr, 0);
    const b = makeEntry('k', 200, { 'cache-control': 's-maxage=5, stale-if-error=60' }, new Uint8Array(), T, T, POLICY);
    assert.equal(b.mustRevalidate, true);
    assert.equal(b.sie, 0);
  });
});

describe('storability (RFC 9111 §3)', () => {
  const cc = (v: string) => parseCacheControl(v);
  it('refuses no-store, private, Set-Cookie, Vary: *, partial content and non-GET', () => {
    assert.equal(notStorableReason(facts, 200, {}, cc('no-store, max-age=60'), POLICY), 'no-store');
    assert.equal(notStorableReason(facts, 200, {}, cc('private, max-age=60'), POLICY), 'private');
    assert.equal(notStorableReason(facts, 200, { 'set-cookie': 'a=1' }, cc('max-age=60'), POLICY), 'set-cookie');
    assert.equal(notStorableReason(facts, 200, { 'set-cookie': 'a=1' }, cc('max-age=60'), { ...POLICY, storeSetCookie: true }), null);
    assert.equal(notStorableReason(facts, 200, { vary: 'accept, *' }, cc('max-age=60'), POLICY), 'vary-star');
    assert.equal(notStorableReason(facts, 206, {}, cc('max-age=60'), POLICY), 'status');
    assert.equal(notStorableReason({ ...facts, method: 'POST' }, 200, {}, cc('max-age=60'), POLICY), 'method');
    assert.equal(notStorableReason({ ...facts, directives: cc('no-store') }, 200, {}, cc('max-age=60'), POLICY), 'request-no-store');
  });
  it('stores answers to Authorization requests only with public, s-maxage or must-revalidate', () => {
    const auth = { ...facts, authorization: true };
    assert.equal(notStorableReason(auth, 200, {}, cc('max-age=60'), POLICY), 'authorization');
    assert.equal(notStorableReason(auth, 200, {}, cc('public, max-age=60'), POLICY), null);
    assert.equal(notStorableReason(auth, 200, {}, cc('s-maxage=60'), POLICY), null);
    assert.equal(notStorableReason(auth, 200, {}, cc('must-revalidate, max-age=60'), POLICY), null);
  });
  it('needs explicit freshness for statuses that are not cacheable by default', () => {
    assert.equal(notStorableReason(facts, 302, {}, cc(''), POLICY), 'status');
    assert.equal(notStorableReason(facts, 302, {}, cc('max-age=5'), POLICY), null);
    assert.equal(notStorableReason(facts, 404, {}, cc(''), POLICY), null);
  });
  it('drops hop-by-hop fields, those named by Connection, Age and Set-Cookie', () => {
    const kept = storedHeaders({ connection: 'x-hop', 'x-hop': '1', 'keep-alive': 't', age: '3', 'set-cookie': 'a', 'transfer-encoding': 'chunked', etag: '"e"' });
    assert.deepEqual(kept, { etag: '"e"' });
    assert.deepEqual(storedHeaders({ date: ['a', 'b'], vary: ['x', 'y'] }), { date: 'a', vary: ['x', 'y'] }, 'singletons keep their first value');
  });
});

describe('keys and entries', () => {
  it('compiles key templates, including headers and cookies', () => {
    const req = request('/p?q=1', { 'x-tenant': 'acme', cookie: 'lang=fr; s=1' });
    assert.equal(compileKey('{scheme}://{host}{uri}')(req), 'http://example.test/p?q=1');
    assert.equal(compileKey('{method} {path}|{query}|{header:X-Tenant}|{cookie:lang}')(req), 'GET /p|q=1|acme|fr');
    assert.throws(() => compileKey('{nope}'), /unknown placeholder "\{nope\}"/);
  });
  it('normalises Vary values (whitespace after commas) and tells a missing field from an empty one', () => {
    const a = varyValues(request('/', { 'accept-encoding': 'gzip,  br' }), ['accept-encoding']);
    const b = varyValues(request('/', { 'accept-encoding': 'gzip, br' }), ['accept-encoding']);
    assert.equal(a, b);
    assert.notEqual(varyValues(request('/', {}), ['accept-encoding']), varyValues(request('/', { 'accept-encoding': '' }), ['accept-encoding']));
  });
  it('stores a body that is a view into a larger buffer as a copy of its own size', () => {
    const slab = Buffer.alloc(65536);
    const view = slab.subarray(100, 1124);
    const e = makeEntry('k', 200, { 'cache-control': 'max-age=60' }, view, T, T, POLICY);
    assert.equal(e.body.byteLength, 1024);
    assert.equal(e.body.buffer.byteLength, 1024, 'the 64 KiB slab is not kept alive by the entry');
    const own = new Uint8Array(10);
    assert.equal(makeEntry('k', 200, { 'cache-control': 'max-age=60' }, own, T, T, POLICY).body, own, 'no copy when not needed');
  });

  it('round-trips an entry through the binary codec and rejects foreign bytes', () => {
    const e = makeEntry('k', 200, { 'cache-control': 'max-age=60', 'x-multi': ['a', 'b'] }, Buffer.from('body'), T, T, POLICY);
    const back = decodeEntry(encodeEntry(e));
    assert.ok(back);
    assert.deepEqual({ ...back, body: Buffer.from(back.body).toString() }, { ...e, body: 'body' });
    assert.equal(decodeEntry(Buffer.from('not an entry')), null);
  });
});
