import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Response } from '../../../src/core/response.js';
import { MemoryStore } from '../../../src/cache/stores/memory.js';
import { bodyText, cache, Clock, FakeOrigin, header, request, res, streamOf } from './helpers.js';

const run = async (h: ReturnType<typeof cache>['handle'], req: ReturnType<typeof request>) => await h(req);

describe('cache layer: hits and misses', () => {
  it('stores a fresh response and answers the next request without calling the origin', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = (_req, n) => res(200, `v${n}`, { 'cache-control': 'max-age=60', date: clock.httpDate() });
    const { handle } = cache(origin, clock);
    const first = await run(handle, request('/a'));
    assert.equal(await bodyText(first), 'v1');
    assert.equal(header(first, 'cache-status'), 'anomaly; fwd=uri-miss; fwd-status=200; ttl=60; stored');
    clock.advance(10);
    const second = await run(handle, request('/a'));
    assert.equal(await bodyText(second), 'v1');
    assert.equal(header(second, 'cache-status'), 'anomaly; hit; ttl=50');
    assert.equal(header(second, 'age'), '10');
    assert.ok(Object.isFrozen(second.headers), 'hit headers are shared and frozen');
    assert.equal(origin.calls.length, 1);
    // Another URI is another key.
    await run(handle, request('/b'));
    assert.equal(origin.calls.length, 2);
  });

  it('answers a HEAD from a stored GET, and passes a HEAD miss through without storing', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'body', { 'cache-control': 'max-age=60' });
    const { handle } = cache(origin, clock);
    const headMiss = await run(handle, request('/h', {}, 'HEAD'));
    assert.match(header(headMiss, 'cache-status') ?? '', /fwd=uri-miss; detail=head/);
    await run(handle, request('/h'));
    const headHit = await run(handle, request('/h', {}, 'HEAD'));
    assert.match(header(headHit, 'cache-status') ?? '', /hit/);
    assert.equal(origin.calls.length, 2);
  });

  it('streams a body to the first client while storing it (tee)', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, streamOf(['he', 'll', 'o']), { 'cache-control': 'max-age=60', 'content-type': 'text/plain' });
    const { handle } = cache(origin, clock);
    const first = await run(handle, request('/s'));
    assert.equal(await bodyText(first), 'hello');
    assert.equal(header(first, 'cache-status'), 'anomaly; fwd=uri-miss; fwd-status=200');
    const second = await run(handle, request('/s'));
    assert.ok(second.body instanceof Uint8Array, 'a hit is served from bytes');
    assert.equal(await bodyText(second), 'hello');
    assert.equal(header(second, 'cache-status'), 'anomaly; hit; ttl=60', 'the miss status never reaches the stored entry');
  });

  it('does not store bodies over max_object_size (streamed or not)', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = (req) => res(200, req.path === '/big-stream' ? streamOf(['x'.repeat(60), 'y'.repeat(60)]) : 'z'.repeat(200), { 'cache-control': 'max-age=60' });
    const { handle } = cache(origin, clock, { policy: { maxObjectSize: 100 } });
    const a = await run(handle, request('/big-stream'));
    assert.equal((await bodyText(a)).length, 120, 'the client still gets the whole body');
    await run(handle, request('/big-stream'));
    const b = await run(handle, request('/big'));
    assert.match(header(b, 'cache-status') ?? '', /detail=too-large/);
    await run(handle, request('/big'));
    assert.equal(origin.calls.length, 4);
  });
});

describe('cache layer: coalescing', () => {
  it('100 concurrent misses for one key cause exactly one origin fetch; the others share it', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = async () => {
      await new Promise((r) => setTimeout(r, 30));
      return res(200, streamOf(['sha', 'red']), { 'cache-control': 'max-age=60' });
    };
    const { handle } = cache(origin, clock);
    const answers = await Promise.all(Array.from({ length: 100 }, () => run(handle, request('/hot'))));
    assert.equal(origin.calls.length, 1);
    const bodies = await Promise.all(answers.map(bodyText));
    assert.ok(bodies.every((b) => b === 'shared'));
    assert.equal(answers.filter((a) => /collapsed/.test(header(a, 'cache-status') ?? '')).length, 99);
  });

  it('a first client that does not read does not hold up the requests waiting on its fetch', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    const big = Array.from({ length: 64 }, () => 'x'.repeat(16 * 1024)); // 1 MiB, past the stream buffers
    origin.answer = () => res(200, streamOf(big, 0), { 'cache-control': 'max-age=60' });
    const { handle } = cache(origin, clock, { lockTimeout: 60_000 });
    const leader = await run(handle, request('/slow-client')); // its body is never read
    const started = Date.now();
    const waiter = await run(handle, request('/slow-client'));
    assert.ok(Date.now() - started < 5000);
    assert.equal((await bodyText(waiter)).length, 1024 * 1024);
    assert.equal(origin.calls.length, 1);
    (leader.body as { destroy(): void }).destroy();
  });

  it('waiters fetch on their own when the shared answer is not storable', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = async (_req, n) => {
      await new Promise((r) => setTimeout(r, 10));
      return res(200, `private ${n}`, { 'cache-control': 'private' });
    };
    const { handle } = cache(origin, clock);
    const answers = await Promise.all(Array.from({ length: 5 }, () => run(handle, request('/p'))));
    assert.equal(origin.calls.length, 5);
    assert.equal(new Set(await Promise.all(answers.map(bodyText))).size, 5, 'nobody got another client\'s private answer');
  });

  it('does not coalesce requests with Authorization', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = async () => {
      await new Promise((r) => setTimeout(r, 10));
      return res(200, 'x', { 'cache-control': 'max-age=60' });
    };
    const { handle } = cache(origin, clock);
    await Promise.all([1, 2, 3].map((i) => run(handle, request('/auth', { authorization: `Bearer ${i}` }))));
    assert.equal(origin.calls.length, 3);
    // Not coalesced, yet still stored (max-age without public: not for Authorization requests, but for others).
    const later = await run(handle, request('/auth'));
    assert.match(header(later, 'cache-status') ?? '', /uri-miss/);
    origin.answer = () => res(200, 'y', { 'cache-control': 'public, max-age=60' });
    await run(handle, request('/auth-public', { authorization: 'Bearer 1' }));
    const hit = await run(handle, request('/auth-public', { authorization: 'Bearer 2' }));
    assert.match(header(hit, 'cache-status') ?? '', /hit/, 'public answers to Authorization requests are stored without a fill');
  });
});

describe('cache layer: Cache-Control', () => {
  const cases: Array<[string, Record<string, string>, boolean]> = [
    ['max-age', { 'cache-control': 'max-age=60' }, true],
    ['s-maxage', { 'cache-control': 's-maxage=60' }, true],
    ['no-store', { 'cache-control': 'no-store, max-age=60' }, false],
    ['private', { 'cache-control': 'private, max-age=60' }, false],
    ['Set-Cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'id=1' }, false],
    ['Expires', { expires: 'Thu, 01 Jan 2026 00:01:00 GMT', date: 'Thu, 01 Jan 2026 00:00:00 GMT' }, true],
  ];
  for (const [name, headers, stored] of cases) {
    it(`${name}: ${stored ? 'stored' : 'not stored'}`, async () => {
      const clock = new Clock();
      const origin = new FakeOrigin();
      origin.answer = () => res(200, 'x', { ...headers });
      const { handle } = cache(origin, clock);
      await run(handle, request('/cc'));
      const second = await run(handle, request('/cc'));
      assert.equal(origin.calls.length, stored ? 1 : 2);
      assert.equal(/hit/.test(header(second, 'cache-status') ?? ''), stored);
    });
  }

  it('no-cache: stored, but revalidated before every use', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = (req) => (req.headers.get('if-none-match') === '"e1"' ? res(304, null, { etag: '"e1"', 'cache-control': 'no-cache' }) : res(200, 'body', { etag: '"e1"', 'cache-control': 'no-cache' }));
    const { handle } = cache(origin, clock);
    await run(handle, request('/nc'));
    const second = await run(handle, request('/nc'));
    assert.equal(origin.calls.length, 2);
    assert.equal(origin.calls[1].req.headers.get('if-none-match'), '"e1"');
    assert.equal(second.status, 200);
    assert.equal(await bodyText(second), 'body');
    assert.equal(header(second, 'cache-status'), 'anomaly; fwd=stale; fwd-status=304; ttl=0; stored');
  });

  it('request no-cache / max-age=0 revalidates; only-if-cached answers 504 on a miss', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'x', { 'cache-control': 'max-age=60', etag: '"a"' });
    const { handle } = cache(origin, clock);
    const miss = await run(handle, request('/r', { 'cache-control': 'only-if-cached' }));
    assert.equal(miss.status, 504);
    await run(handle, request('/r'));
    const forced = await run(handle, request('/r', { 'cache-control': 'no-cache' }));
    assert.equal(origin.calls.length, 2);
    assert.match(header(forced, 'cache-status') ?? '', /fwd=request/);
    await run(handle, request('/r', { pragma: 'no-cache' }));
    assert.equal(origin.calls.length, 3);
    clock.advance(5);
    await run(handle, request('/r', { 'cache-control': 'max-age=0' }));
    assert.equal(origin.calls.length, 4);
  });

  it('request Cache-Control can be ignored by configuration', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'x', { 'cache-control': 'max-age=60' });
    const { handle } = cache(origin, clock, { honorRequestCacheControl: false });
    await run(handle, request('/i'));
    await run(handle, request('/i', { 'cache-control': 'no-cache' }));
    assert.equal(origin.calls.length, 1);
  });
});

describe('cache layer: revalidation, stale-while-revalidate, stale-if-error', () => {
  it('revalidates a stale entry with If-None-Match and If-Modified-Since and updates its headers from the 304', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    const lm = 'Wed, 31 Dec 2025 00:00:00 GMT';
    origin.answer = (_req, n) =>
      n === 1 ? res(200, 'orig', { 'cache-control': 'max-age=10', etag: '"v1"', 'last-modified': lm, 'x-version': '1' }) : res(304, null, { 'cache-control': 'max-age=30', etag: '"v1"', 'x-version': '2' });
    const { handle } = cache(origin, clock);
    await run(handle, request('/rv'));
    clock.advance(11);
    const r = await run(handle, request('/rv'));
    assert.equal(origin.calls[1].req.headers.get('if-none-match'), '"v1"');
    assert.equal(origin.calls[1].req.headers.get('if-modified-since'), lm);
    assert.equal(await bodyText(r), 'orig');
    assert.equal(header(r, 'x-version'), '2');
    assert.equal(header(r, 'cache-status'), 'anomaly; fwd=stale; fwd-status=304; ttl=30; stored');
    clock.advance(20);
    const hit = await run(handle, request('/rv'));
    assert.equal(header(hit, 'cache-status'), 'anomaly; hit; ttl=10');
    assert.equal(origin.calls.length, 2);
  });

  it("answers the client's own conditional request with 304 from the cache", async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'x', { 'cache-control': 'max-age=60', etag: 'W/"e"' });
    const { handle } = cache(origin, clock);
    const first = await run(handle, request('/c', { 'if-none-match': '"e"' }));
    assert.equal(first.status, 304, 'the miss is fetched in full (validators stripped) and the 304 made here');
    assert.equal(origin.calls[0].req.headers.has('if-none-match'), false);
    const hit = await run(handle, request('/c', { 'if-none-match': '"other", W/"e"' }));
    assert.equal(hit.status, 304);
    assert.equal(header(hit, 'etag'), 'W/"e"');
    const full = await run(handle, request('/c', { 'if-none-match': '"other"' }));
    assert.equal(full.status, 200);
  });

  it('stale-while-revalidate: serves stale at once and refreshes in the background (once)', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = async (_req, n) => {
      await new Promise((r) => setTimeout(r, 10));
      return res(200, `v${n}`, { 'cache-control': 'max-age=10, stale-while-revalidate=30' });
    };
    const { handle } = cache(origin, clock);
    await run(handle, request('/swr'));
    clock.advance(15);
    const [a, b] = await Promise.all([run(handle, request('/swr')), run(handle, request('/swr'))]);
    assert.equal(await bodyText(a), 'v1');
    assert.equal(await bodyText(b), 'v1');
    assert.match(header(a, 'cache-status') ?? '', /hit; ttl=-5; detail=stale-while-revalidate/);
    await new Promise((r) => setTimeout(r, 40));
    assert.equal(origin.calls.length, 2, 'one background revalidation');
    const c = await run(handle, request('/swr'));
    assert.equal(await bodyText(c), 'v2');
    // Beyond the window: revalidated in line.
    clock.advance(45);
    const d = await run(handle, request('/swr'));
    assert.equal(await bodyText(d), 'v3');
  });

  it('stale-if-error: serves stale when the origin fails within the window; must-revalidate forbids it', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    let fail = false;
    origin.answer = (req) => {
      if (fail) return req.path === '/throw' ? Promise.reject(new Error('boom')) : res(502, 'bad gateway', {});
      return res(200, 'good', { 'cache-control': req.path === '/mr' ? 'max-age=10, must-revalidate, stale-if-error=60' : 'max-age=10, stale-if-error=60' });
    };
    const { handle } = cache(origin, clock);
    for (const p of ['/sie', '/throw', '/mr']) await run(handle, request(p));
    fail = true;
    clock.advance(20);
    const a = await run(handle, request('/sie'));
    assert.equal(a.status, 200);
    assert.equal(header(a, 'cache-status'), 'anomaly; fwd=stale; fwd-status=502; ttl=-10; detail=stale-if-error');
    const b = await run(handle, request('/throw'));
    assert.equal(await bodyText(b), 'good');
    const c = await run(handle, request('/mr'));
    assert.equal(c.status, 502);
    clock.advance(60);
    const d = await run(handle, request('/sie'));
    assert.equal(d.status, 502, 'past the window the error goes through');
  });
});

describe('cache layer: Vary', () => {
  it('keeps one variant per value of the varying fields', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = (req) => res(200, `lang=${req.headers.get('accept-language') ?? '-'}`, { 'cache-control': 'max-age=60', vary: 'Accept-Language' });
    const { handle } = cache(origin, clock);
    const en = await run(handle, request('/v', { 'accept-language': 'en' }));
    const fr = await run(handle, request('/v', { 'accept-language': 'fr' }));
    assert.match(header(fr, 'cache-status') ?? '', /fwd=vary-miss/);
    const en2 = await run(handle, request('/v', { 'accept-language': 'en' }));
    const fr2 = await run(handle, request('/v', { 'accept-language': 'fr' }));
    assert.equal(await bodyText(en), 'lang=en');
    assert.equal(await bodyText(en2), 'lang=en');
    assert.equal(await bodyText(fr2), 'lang=fr');
    assert.match(header(fr2, 'cache-status') ?? '', /hit/);
    assert.equal(origin.calls.length, 2);
  });
});

describe('cache layer: purge and invalidation', () => {
  it('PURGE needs the token; with it the entry is gone', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'x', { 'cache-control': 'max-age=60' });
    const { handle } = cache(origin, clock);
    await run(handle, request('/p'));
    assert.equal((await run(handle, request('/p', {}, 'PURGE'))).status, 401);
    assert.equal((await run(handle, request('/p', { 'x-purge-token': 'wrong-token!' }, 'PURGE'))).status, 403);
    assert.equal((await run(handle, request('/p', { authorization: 'Bearer purge-secret' }, 'PURGE'))).status, 200);
    assert.equal((await run(handle, request('/p', { 'x-purge-token': 'purge-secret' }, 'PURGE'))).status, 404);
    await run(handle, request('/p'));
    assert.equal(origin.calls.length, 2);
  });

  it('a successful unsafe request invalidates the URI; a failed one does not', async () => {
    const clock = new Clock();
    const origin = new FakeOrigin();
    origin.answer = (req) => (req.method === 'GET' ? res(200, 'x', { 'cache-control': 'max-age=60' }) : req.path === '/fail' ? Response.text('no', 500) : Response.text('ok'));
    const { handle } = cache(origin, clock);
    await run(handle, request('/u'));
    await run(handle, request('/fail'));
    const post = await run(handle, request('/u', {}, 'POST'));
    assert.equal(header(post, 'cache-status'), 'anomaly; fwd=method');
    await run(handle, request('/fail', {}, 'DELETE'));
    await new Promise((r) => setImmediate(r));
    await run(handle, request('/u'));
    await run(handle, request('/fail'));
    assert.deepEqual(origin.calls.map((c) => `${c.req.method} ${c.req.path}`), ['GET /u', 'GET /fail', 'POST /u', 'DELETE /fail', 'GET /u']);
  });
});

describe('memory store', () => {
  it('evicts least recently used entries to stay within its byte bound', async () => {
    const clock = new Clock();
    const store = new MemoryStore(3000, clock.now);
    const origin = new FakeOrigin();
    origin.answer = () => res(200, 'x'.repeat(800), { 'cache-control': 'max-age=600' });
    const { handle } = cache(origin, clock, { store });
    for (const p of ['/1', '/2', '/3']) await run(handle, request(p));
    await run(handle, request('/1')); // /1 becomes the most recent; /2 is now the oldest
    await run(handle, request('/4'));
    assert.ok((store.stats().bytes ?? 0) <= 3000);
    const before = origin.calls.length;
    await run(handle, request('/1'));
    assert.equal(origin.calls.length, before, '/1 survived');
    await run(handle, request('/2'));
    assert.equal(origin.calls.length, before + 1, '/2 was evicted');
  });
});
