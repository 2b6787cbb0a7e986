import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { HttpError } from '../../../src/core/errors.js';
import { appModule, type AppHandler } from '../../../src/handlers/app/index.js';
import { EMPTY_BODY, guestPath, readGuestBody, toGuestRequest, toResponse } from '../../../src/handlers/app/marshal.js';
import { bodyText, FakeRuntime, recordingLogger, request, tempDir } from './fake-runtime.js';
import { JSON_HEADERS, TEXT_HEADERS } from '../../../runtimes/contract.js';
import { decodeAnswer } from '../../../runtimes/quickjs/marshal.js';

describe('app marshalling', () => {
  const tmp = tempDir();
  const runtime = new FakeRuntime();
  after(() => tmp.rm());

  async function mount(program: string): Promise<AppHandler> {
    tmp.write('m.fake', program);
    return (await appModule([runtime]).create({ file: 'm.fake', reload: false, instances: 1 }, tmp.ctx(recordingLogger()))) as AppHandler;
  }

  it('guest path: the part after a prefix route, the whole path otherwise', () => {
    assert.equal(guestPath(request('/api/users/1?x=1', { route: '/api/*' })), '/users/1');
    assert.equal(guestPath(request('/api', { route: '/api/*' })), '/');
    assert.equal(guestPath(request('/api/', { route: '/api/*' })), '/');
    assert.equal(guestPath(request('/t/acme/a%20b', { route: '/t/:tenant/*rest' })), '/a%20b');
    assert.equal(guestPath(request('/users/7', { route: '/users/:id' })), '/users/7');
    assert.equal(guestPath(request('/exact', { route: '/exact' })), '/exact');
    assert.equal(guestPath(request('/x/y', { route: '/*' })), '/x/y');
  });

  it('builds the GuestRequest: method, query, headers, cookies, params, body', async () => {
    const app = await mount('echo');
    const req = request('/t/acme/items?a=1&a=2&b=x%20y', {
      route: '/t/:tenant/*',
      method: 'POST',
      headers: { 'X-Multi': ['1', '2'], cookie: 'sid=abc; theme=dark', 'content-type': 'text/plain' },
      body: 'héllo',
      protocol: 'h2',
    });
    const res = await app.handle(req);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const seen = JSON.parse(await bodyText(res));
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/items');
    assert.equal(seen.rawQuery, 'a=1&a=2&b=x%20y');
    assert.deepEqual(seen.query, { a: ['1', '2'], b: ['x y'] });
    assert.deepEqual(seen.headers['x-multi'], ['1', '2']);
    assert.deepEqual(seen.cookies, { sid: 'abc', theme: 'dark' });
    assert.deepEqual(seen.params, { tenant: 'acme', '*': 'items' });
    assert.equal(seen.protocol, 'h2');
    assert.equal(seen.scheme, 'https');
    assert.equal(seen.host, 'example.test');
    assert.equal(seen.remoteAddress, '192.0.2.7');
    assert.equal(seen.bodyText, 'héllo');
    await app.dispose();
  });

  it('an empty body is an empty Uint8Array; bytes go through binary-safe', async () => {
    const req = request('/');
    assert.equal(readGuestBody(req), null);
    const g = toGuestRequest(req, EMPTY_BODY);
    assert.ok(g.body instanceof Uint8Array);
    assert.equal(g.body.byteLength, 0);
    const app = await mount('bytes');
    const bin = Buffer.from([0, 1, 2, 255, 0, 10]);
    const res = await app.handle(request('/', { method: 'PUT', body: bin }));
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.deepEqual(Buffer.from(res.body as Uint8Array), bin);
    await app.dispose();
  });

  it('a body over the site max_body is 413 (HttpError), before any instance is used', async () => {
    const app = await mount('echo');
    await assert.rejects(async () => app.handle(request('/', { method: 'POST', body: 'x'.repeat(100), limit: 10 })), (err: unknown) => err instanceof HttpError && err.status === 413);
    assert.equal(app.status().stats.runtime.calls, 0);
    await app.dispose();
  });

  it('GuestResponse -> Response: lower-case headers, repeats as lists, framing fields dropped', async () => {
    const app = await mount('status');
    const res = await app.handle(request('/'));
    assert.equal(res.status, 201);
    assert.deepEqual(res.headers, { 'x-one': '1', 'x-two': '2', 'set-cookie': ['a=1', 'b=2'] });
    assert.equal(res.body, null);
    await app.dispose();
  });

  it('string bodies default to text/plain; a content-type given is kept', () => {
    const a = toResponse({ status: 200, headers: [], body: 'hi' }, 100);
    assert.equal(a.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(a.body, 'hi');
    const b = toResponse({ status: 200, headers: [['Content-Type', 'text/html']], body: '<p>' }, 100);
    assert.equal(b.headers['content-type'], 'text/html');
    const c = toResponse({ status: 204, headers: [], body: null }, 100);
    assert.equal(c.headers['content-type'], undefined);
  });

  it('rejects what the wire cannot carry', () => {
    assert.throws(() => toResponse({ status: 99, headers: [], body: null }, 100), { name: 'GuestError', kind: 'response' });
    assert.throws(() => toResponse({ status: 200, headers: [['bad name', 'x']], body: null }, 100), { kind: 'response' });
    assert.throws(() => toResponse({ status: 200, headers: [['x', 'a\r\nb']], body: null }, 100), { kind: 'response' });
    assert.throws(() => toResponse({ status: 200, headers: [], body: 'é'.repeat(60) }, 100), { kind: 'response' });
    assert.throws(() => toResponse({ status: 200, headers: [], body: new Uint8Array(101) }, 100), { kind: 'response' });
    assert.doesNotThrow(() => toResponse({ status: 200, headers: [], body: 'x'.repeat(100) }, 100));
  });
});

describe('helper answers (text()/json() with only their content-type)', () => {
  it('the QuickJS wire form is recognised by prefix and carries the shared header list', () => {
    const text = decodeAnswer('200\x1f1\x1fcontent-type\x1dtext/plain; charset=utf-8\x1fthello');
    assert.deepEqual(text, { kind: 'text', status: 200, headers: TEXT_HEADERS, body: 'hello' });
    assert.equal((text as { headers: unknown }).headers, TEXT_HEADERS);
    const json = decodeAnswer('200\x1f1\x1fcontent-type\x1dapplication/json\x1ft{"a":1}');
    assert.equal((json as { headers: unknown }).headers, JSON_HEADERS);
    // One more header, another value or another status: the general form, checked field by field.
    const two = decodeAnswer('200\x1f2\x1fcontent-type\x1dtext/plain; charset=utf-8\x1ex-a\x1d1\x1ftbody');
    assert.deepEqual(two, { kind: 'text', status: 200, headers: [['content-type', 'text/plain; charset=utf-8'], ['x-a', '1']], body: 'body' });
    assert.notEqual((decodeAnswer('201\x1f1\x1fcontent-type\x1dapplication/json\x1ft{}') as { headers: unknown }).headers, JSON_HEADERS);
  });

  it('shares one frozen header object; changing a response copies it first', () => {
    const a = toResponse({ status: 200, headers: TEXT_HEADERS, body: 'a' }, 1 << 20);
    const b = toResponse({ status: 200, headers: TEXT_HEADERS, body: 'b' }, 1 << 20);
    assert.equal(a.headers, b.headers);
    assert.ok(Object.isFrozen(a.headers));
    // Recognised by value: any engine's one-field list with a helper's content-type shares it too.
    assert.equal(toResponse({ status: 200, headers: [['content-type', 'text/plain; charset=utf-8']], body: 'c' }, 1 << 20).headers, a.headers);
    a.set('x-extra', '1');
    assert.equal(a.headers['x-extra'], '1');
    assert.equal(b.headers['x-extra'], undefined);
    assert.equal(toResponse({ status: 200, headers: JSON_HEADERS, body: '{}' }, 1 << 20).headers['content-type'], 'application/json');
    assert.throws(() => toResponse({ status: 200, headers: TEXT_HEADERS, body: 'x'.repeat(100) }, 10), /larger than max_response/);
  });
});
