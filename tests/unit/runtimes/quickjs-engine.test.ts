/** QuickJS-specific behaviour beyond the shared contract suite: sandbox, binding details, pitfalls. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestError, type AppInstance } from '../../../runtimes/contract.js';
import { quickjsRuntime } from '../../../runtimes/quickjs/index.js';
import { bodyText, guestRequest, header, SUITE_LIMITS } from './contract-suite.js';

const runtime = quickjsRuntime();
const load = (code: string, file = '/virtual/app.js'): Promise<AppInstance> => runtime.load({ file, code }, SUITE_LIMITS);

async function loadError(code: string): Promise<GuestError> {
  try {
    (await load(code)).dispose();
  } catch (err) {
    assert.ok(err instanceof GuestError);
    return err;
  }
  assert.fail('expected a load error');
}

describe('quickjs runtime', () => {
  it('reads Latin-1 answers from guest memory and every other answer through the FFI, byte-exact', async () => {
    const app = await load(`export default (req) => {
      const k = req.path.slice(1);
      return k === 'ascii' ? 'plain' : k === 'latin1' ? 'h\u00e9llo \u00ff' : k === 'wide' ? 'check \u2713 \ud83d\ude00' : k === 'empty' ? '' : 'x'.repeat(100000);
    }`);
    const boundary = (app as unknown as { boundary: { direct: boolean; rawStrings?: boolean } }).boundary;
    assert.equal(boundary.direct, true);
    assert.equal(boundary.rawStrings, true, 'this quickjs-emscripten build should take the raw string path (see probeRawStrings)');
    const expected: Record<string, string> = { ascii: 'plain', latin1: 'h\u00e9llo \u00ff', wide: 'check \u2713 \ud83d\ude00', empty: '', big: 'x'.repeat(100000) };
    for (let round = 0; round < 3; round++) {
      for (const [k, text] of Object.entries(expected)) assert.equal(bodyText(await app.handle(guestRequest({ path: '/' + k }))), text, k);
    }
    app.dispose();
  });

  it('refuses imports other than anomaly', async () => {
    const err = await loadError(`import fs from './secret.js';\nexport default () => 'x';`);
    assert.equal(err.kind, 'load');
    assert.match(err.message, /not allowed/);
    const node = await loadError(`import fs from 'node:fs';\nexport default () => 'x';`);
    assert.match(node.message, /not allowed/);
  });

  it('reports top-level errors and bad default exports as load errors with a line', async () => {
    const err = await loadError(`const a = 1;\n\nnull.x;\nexport default () => 'x';`);
    assert.equal(err.kind, 'load');
    assert.equal(err.line, 3);
    assert.equal((await loadError(`export default 42;`)).kind, 'load');
  });

  it('names the line of a request-time exception', async () => {
    const app = await load(`export default function () {\n  const x = 1;\n  throw new Error('bad ' + x);\n}`);
    await assert.rejects(app.handle(guestRequest()), (err: GuestError) => err.kind === 'exception' && err.line === 3 && /bad 1/.test(err.message));
    app.dispose();
  });

  it('async rejections are exceptions; the deadline also stops async handlers', async () => {
    const app = await load(`export default async (req) => { await null; if (req.path === '/spin') for (;;) {} throw new Error('late'); }`);
    await assert.rejects(app.handle(guestRequest()), (err: GuestError) => err.kind === 'exception' && /late/.test(err.message));
    await assert.rejects(app.handle(guestRequest({ path: '/spin' })), (err: GuestError) => err.kind === 'deadline');
    assert.equal(app.broken, true);
    assert.equal(app.stats.deadlines, 1);
    app.dispose();
  });

  it('the binding: query, headers, cookies, form, router params, 405 with allow', async () => {
    const app = await load(`import { App, Response } from 'anomaly';
const app = new App();
app.get('/q', (req) => Response.json({ a: req.query.get('a'), all: req.query.all('a'), none: req.query.get('zz'), ua: req.headers.get('User-Agent'), c: req.cookies.sid }));
app.post('/form', (req) => Response.json(req.form().toJSON()));
app.get('/files/*rest', (req) => Response.text(req.params.rest));
app.put('/items/:id', (req) => ({ status: 204, headers: {}, body: null }));
app.get('/go', () => Response.redirect('/there'));
export default app;`);
    const q = await app.handle(
      guestRequest({ path: '/q', query: new Map([['a', ['1', '2']]]), headers: new Map([['user-agent', ['t/1']]]), cookies: new Map([['sid', 's\x01d']]) }),
    );
    assert.deepEqual(JSON.parse(bodyText(q)), { a: '1', all: ['1', '2'], none: null, ua: 't/1', c: 's\x01d' });
    const form = await app.handle(guestRequest({ method: 'POST', path: '/form', body: Buffer.from('x=1&x=2&y=a+b%21') }));
    assert.deepEqual(JSON.parse(bodyText(form)), { x: ['1', '2'], y: ['a b!'] });
    assert.equal(bodyText(await app.handle(guestRequest({ path: '/files/a/b%20c.txt' }))), 'a/b c.txt');
    const wrong = await app.handle(guestRequest({ method: 'DELETE', path: '/items/1' }));
    assert.equal(wrong.status, 405);
    assert.equal(header(wrong, 'allow'), 'PUT');
    const go = await app.handle(guestRequest({ path: '/go' }));
    assert.equal(go.status, 302);
    assert.equal(header(go, 'location'), '/there');
    const none = await app.handle(guestRequest({ path: '/nothing' }));
    assert.equal(none.status, 404);
    assert.equal(bodyText(none), 'not found');
    app.dispose();
  });

  it('a separator inside a header value cannot add a header field', async () => {
    const app = await load(`import { Response } from 'anomaly';
export default (req) => new Response('x', { headers: { 'x-a': req.query.get('v') } });`);
    for (const v of ['a\x1eset-cookie\x1devil', 'a\x1devil', 'a\x1eset-cookie\x1devil\x1e']) {
      await assert.rejects(
        app.handle(guestRequest({ query: new Map([['v', [v]]]) })),
        (err: GuestError) => err.kind === 'response',
        JSON.stringify(v),
      );
    }
    // US and NUL travel in the JSON form: the value arrives intact (the app handler then refuses it).
    for (const v of ['a\x1fb', 'a\x00b', 'a\x1f\x1eb']) {
      const res = await app.handle(guestRequest({ query: new Map([['v', [v]]]) }));
      assert.deepEqual(res.headers.filter(([k]) => k === 'x-a'), [['x-a', v]]);
      assert.equal(res.headers.length, 2);
    }
    app.dispose();
  });

  it('text bodies with NUL and non-ASCII survive both ways', async () => {
    const app = await load(`export default (req) => 'got:' + req.text() + '\\u0000end';`);
    const res = await app.handle(guestRequest({ body: Buffer.from('é\u0000ü😀') }));
    assert.equal(bodyText(res), 'got:é\u0000ü😀\u0000end');
    app.dispose();
  });

  it("a helper's headers are made on first use and every change to them is answered", async () => {
    const app = await load(`import { text, json, Response } from 'anomaly';
      export default (req) => {
        const which = req.query.get('v');
        if (which === 'plain') return text('a');
        if (which === 'added') { const r = text('b'); r.headers['x-a'] = '1'; return r; }
        if (which === 'set') return json({ c: 1 }).set('x-b', '2');
        if (which === 'replaced') { const r = text('d'); r.headers = { 'content-type': 'text/x-custom' }; return r; }
        if (which === 'emptied') { const r = text('e'); delete r.headers['content-type']; return r; }
        if (which === 'status') return text('f', 201);
        if (which === 'read') { const r = json([1]); return text(r.headers['content-type']); }
        return new Response('g', { headers: { 'x-c': '3' } });
      };`);
    const call = async (v: string) => app.handle(guestRequest({ rawQuery: `v=${v}`, query: new Map([['v', [v]]]) }));
    const plain = await call('plain');
    assert.deepEqual([plain.status, header(plain, 'content-type'), bodyText(plain)], [200, 'text/plain; charset=utf-8', 'a']);
    const added = await call('added');
    assert.deepEqual([header(added, 'content-type'), header(added, 'x-a')], ['text/plain; charset=utf-8', '1']);
    const set = await call('set');
    assert.deepEqual([header(set, 'content-type'), header(set, 'x-b'), bodyText(set)], ['application/json', '2', '{"c":1}']);
    assert.equal(header(await call('replaced'), 'content-type'), 'text/x-custom');
    // No content-type left: the string body gets the text default again.
    assert.equal(header(await call('emptied'), 'content-type'), 'text/plain; charset=utf-8');
    const status = await call('status');
    assert.deepEqual([status.status, header(status, 'content-type')], [201, 'text/plain; charset=utf-8']);
    assert.equal(bodyText(await call('read')), 'application/json');
    const other = await call('other');
    assert.deepEqual([header(other, 'x-c'), header(other, 'content-type')], ['3', 'text/plain; charset=utf-8']);
    app.dispose();
  });

  it('2000 consecutive calls stay fast (no memory-accounting slowdown)', async () => {
    const app = await load(`import { Response } from 'anomaly';
export default (req) => Response.json({ ua: req.headers.get('user-agent'), q: req.query.get('q'), n: req.body.length });`);
    const req = guestRequest({ headers: new Map([['user-agent', ['x']]]), query: new Map([['q', ['1']]]), body: new Uint8Array(1024) });
    const times: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const t0 = performance.now();
      await app.handle(req);
      times.push(performance.now() - t0);
    }
    const sum = (a: number[]): number => a.reduce((x, y) => x + y, 0);
    const first = sum(times.slice(0, 200));
    const last = sum(times.slice(-200));
    assert.ok(last < first * 5, `last 200 calls ${last.toFixed(1)} ms vs first 200 ${first.toFixed(1)} ms`);
    assert.equal(app.stats.calls, 2000);
    app.dispose();
  });

  it('dispose() after exceptions, deadlines and out-of-memory does not abort', async () => {
    const apps = await Promise.all([
      load(`export default () => { throw new Error('x') }`),
      load(`export default () => { for (;;) {} }`),
      load(`export default () => { let a = []; for (;;) a.push(new Array(1e5).fill(1)); }`),
    ]);
    for (const app of apps) await assert.rejects(app.handle(guestRequest()), GuestError);
    for (const app of apps) app.dispose();
    for (const app of apps) app.dispose(); // twice is harmless
    await assert.rejects(apps[0].handle(guestRequest()), GuestError);
  });
});
