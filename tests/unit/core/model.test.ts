import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/handler.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { QueryMap } from '../../../src/core/query.js';
import { RequestBody } from '../../../src/core/body.js';
import { Request } from '../../../src/core/request.js';
import { Response } from '../../../src/core/response.js';
import { AnomalyError, HttpError } from '../../../src/core/errors.js';
import { parseCookies } from '../../../src/core/cookies.js';

const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 80, tls: null };

function request(target: string, raw: string[] = [], body: RequestBody = new RequestBody(null, 0, 1024)): Request {
  return new Request({ method: 'GET', scheme: 'https', authority: 'Example.COM:8443', target, protocol: 'h1', headers: new HeaderMap(raw), body, conn });
}

describe('HeaderMap', () => {
  it('is case-insensitive, multi-valued, and skips pseudo-headers', () => {
    const h = new HeaderMap([':path', '/', 'Accept', 'a', 'accept', 'b', 'Cookie', 'x=1', 'cookie', 'y=2']);
    assert.equal(h.get('ACCEPT'), 'a, b');
    assert.deepEqual(h.getAll('accept'), ['a', 'b']);
    assert.equal(h.get('cookie'), 'x=1; y=2');
    assert.equal(h.has(':path'), false);
    assert.equal(h.size, 2);
    assert.deepEqual([...h], [['accept', 'a'], ['accept', 'b'], ['cookie', 'x=1'], ['cookie', 'y=2']]);
  });
});

describe('QueryMap', () => {
  it('decodes, keeps repeats and tolerates bad escapes', () => {
    const q = new QueryMap('a=1&b=x+y&a=2&c&d=%E2%9C%93&e=%ZZ&&=v');
    assert.deepEqual(q.getAll('a'), ['1', '2']);
    assert.equal(q.get('b'), 'x y');
    assert.equal(q.get('c'), '');
    assert.equal(q.get('d'), '✓');
    assert.equal(q.get('e'), '%ZZ');
    assert.equal(q.get(''), 'v');
  });
});

describe('Request', () => {
  it('derives host, path, query and cookies lazily', () => {
    const r = request('/a/b?x=1&x=2', ['Cookie', 'sid=abc; theme="dark"']);
    assert.equal(r.host, 'example.com');
    assert.equal(r.path, '/a/b');
    assert.equal(r.rawQuery, 'x=1&x=2');
    assert.deepEqual(r.query.getAll('x'), ['1', '2']);
    assert.equal(r.cookies.get('sid'), 'abc');
    assert.equal(r.cookies.get('theme'), 'dark');
  });
  it('handles IPv6 authorities', () => {
    const r = new Request({ method: 'GET', scheme: 'http', authority: '[::1]:8080', target: '/', protocol: 'h2', headers: new HeaderMap([]), body: new RequestBody(null, 0, 0), conn });
    assert.equal(r.host, '[::1]');
  });
});

describe('RequestBody', () => {
  it('buffers text, json and form', async () => {
    const body = new RequestBody(Readable.from([Buffer.from('{"a":'), Buffer.from('1}')]), null, 100);
    assert.deepEqual(await body.json(), { a: 1 });
    assert.equal(await body.text(), '{"a":1}', 'cached bytes can be read again');
    const form = new RequestBody(Readable.from([Buffer.from('x=1&y=a+b')]), 9, 100);
    assert.equal((await form.form()).get('y'), 'a b');
  });
  it('rejects bodies over the limit with 413, declared or streamed', async () => {
    await assert.rejects(new RequestBody(Readable.from([Buffer.alloc(10)]), 10, 5).bytes(), (e: HttpError) => e.status === 413);
    await assert.rejects(new RequestBody(Readable.from([Buffer.alloc(4), Buffer.alloc(4)]), null, 5).bytes(), (e: HttpError) => e.status === 413);
  });
  it('gives 400 for invalid JSON', async () => {
    await assert.rejects(new RequestBody(Readable.from([Buffer.from('{')]), 1, 5).json(), (e: HttpError) => e.status === 400);
  });
  it('refuses a second consumer of the stream', () => {
    const body = new RequestBody(Readable.from([]), null, 5);
    body.stream();
    assert.throws(() => body.stream(), AnomalyError);
  });
});

describe('compose', () => {
  it('runs middleware outermost first and forbids calling next twice', async () => {
    const order: string[] = [];
    const handler = compose(
      [
        (_req, next) => {
          order.push('a');
          return next();
        },
        async (_req, next) => {
          order.push('b');
          const res = await next();
          res.set('x-b', '1');
          return res;
        },
      ],
      () => Response.text('ok'),
    );
    const res = await handler(request('/'));
    assert.deepEqual(order, ['a', 'b']);
    assert.equal(res.headers['x-b'], '1');
    const twice = compose([(_req, next) => { void next(); return next(); }], () => Response.text('ok'));
    assert.throws(() => twice(request('/')), AnomalyError);
  });
});

describe('parseCookies', () => {
  it('keeps the first occurrence', () => {
    assert.equal(parseCookies('a=1; a=2').get('a'), '1');
  });
});

describe('Response', () => {
  it('copies shared frozen headers before changing them', () => {
    const shared = Object.freeze({ 'content-type': 'text/plain', vary: 'accept-encoding' });
    const res = new Response(200, 'x', shared);
    res.set('x-a', '1').append('vary', 'origin');
    assert.equal(res.headers['x-a'], '1');
    assert.deepEqual(res.headers.vary, ['accept-encoding', 'origin']);
    assert.deepEqual(shared, { 'content-type': 'text/plain', vary: 'accept-encoding' });
  });
});
