import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Response } from '../../../src/core/response.js';
import { Router, type Route } from '../../../src/server/router.js';
import { VirtualHosts } from '../../../src/server/vhosts.js';

const h = () => Response.text('x');
const route = (pattern: string, methods: string[] | null = null): Route => ({ pattern, methods: methods && new Set(methods), handler: h });

describe('Router', () => {
  const router = new Router([
    route('/hello', ['GET']),
    route('/users/:id'),
    route('/users/:id/posts/:post'),
    route('/files/*rest'),
    route('/static/*'),
    route('/hello', ['POST']),
  ]);
  it('matches exact paths and methods, HEAD follows GET', () => {
    assert.equal(router.lookup('GET', '/hello').kind, 'found');
    assert.equal(router.lookup('HEAD', '/hello').kind, 'found');
    assert.equal(router.lookup('POST', '/hello').kind, 'found');
    assert.equal(router.lookup('GET', '/hello/').kind, 'not-found');
  });
  it('answers method-not-allowed with the union of allowed methods', () => {
    const r = router.lookup('DELETE', '/hello');
    assert.equal(r.kind, 'method-not-allowed');
    assert.equal(r.kind === 'method-not-allowed' && r.allow, 'GET, HEAD, POST');
  });
  it('extracts decoded params', () => {
    const r = router.lookup('GET', '/users/j%C3%B6rg');
    assert.ok(r.kind === 'found');
    assert.deepEqual(r.params, { id: 'jörg' });
    const p = router.lookup('GET', '/users/1/posts/2');
    assert.ok(p.kind === 'found');
    assert.deepEqual(p.params, { id: '1', post: '2' });
    assert.equal(router.lookup('GET', '/users/').kind, 'not-found');
    assert.equal(router.lookup('GET', '/users/1/2').kind, 'not-found');
  });
  it('matches prefixes at segment boundaries and keeps the rest encoded', () => {
    const r = router.lookup('GET', '/files/a%20b/c');
    assert.ok(r.kind === 'found');
    assert.deepEqual(r.params, { rest: 'a%20b/c' });
    const s = router.lookup('GET', '/static');
    assert.ok(s.kind === 'found');
    assert.deepEqual(s.params, { '*': '' });
    assert.equal(router.lookup('GET', '/staticx').kind, 'not-found');
  });
  it('"/*" matches everything', () => {
    const all = new Router([route('/*')]);
    const r = all.lookup('GET', '/a/b');
    assert.ok(r.kind === 'found');
    assert.deepEqual(r.params, { '*': 'a/b' });
    assert.equal(all.lookup('GET', '/').kind, 'found');
  });
});

describe('VirtualHosts', () => {
  const v = new VirtualHosts([
    { hosts: ['example.com'], site: 'exact' },
    { hosts: ['*.example.com'], site: 'wild' },
    { hosts: [], site: 'default' },
  ]);
  it('prefers exact, then one-level wildcard, then default', () => {
    assert.equal(v.match('example.com'), 'exact');
    assert.equal(v.match('example.com.'), 'exact');
    assert.equal(v.match('a.example.com'), 'wild');
    assert.equal(v.match('a.b.example.com'), 'default');
    assert.equal(v.match('other.org'), 'default');
  });
  it('returns null without a default', () => {
    assert.equal(new VirtualHosts([{ hosts: ['a.test'], site: 1 }]).match('b.test'), null);
  });
});
