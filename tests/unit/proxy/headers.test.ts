import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestBody } from '../../../src/core/body.js';
import { connectionTokens } from '../../../src/core/field-names.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { Request, type ConnectionInfo } from '../../../src/core/request.js';
import { upstreamPath } from '../../../src/handlers/proxy/forward.js';
import { clientResponseHeaders, TrustedProxies, upstreamRequestHeaders, type ForwardingOptions } from '../../../src/handlers/proxy/headers.js';
import { groupOptions } from '../../../src/handlers/proxy/config.js';

function req(raw: string[], remote = '192.0.2.10', scheme: 'http' | 'https' = 'https'): Request {
  const conn: ConnectionInfo = { id: 1, remoteAddress: remote, remotePort: 5000, localAddress: '127.0.0.1', localPort: 443, tls: null };
  return new Request({ method: 'GET', scheme, authority: 'example.com', target: '/a?b=1', protocol: 'h1', headers: new HeaderMap(['Host', 'example.com', ...raw]), body: new RequestBody(null, 0, 0), conn });
}

function opts(over: Partial<ForwardingOptions> = {}): ForwardingOptions {
  return { trusted: new TrustedProxies([]), xForwarded: true, forwarded: false, via: '1.1 anomaly', host: null, hostFromTarget: false, set: [], add: [], remove: new Set(), ...over };
}

function asMap(flat: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) m.set(flat[i], [...(m.get(flat[i]) ?? []), flat[i + 1]]);
  return m;
}

describe('proxy request headers', () => {
  it('drops hop-by-hop fields and those named by Connection; keeps Host first', () => {
    const out = upstreamRequestHeaders(req(['Connection', 'keep-alive, X-Hop', 'X-Hop', '1', 'Keep-Alive', '5', 'TE', 'trailers', 'Upgrade', 'foo', 'Accept', '*/*', 'Proxy-Authorization', 'x']), opts(), false);
    const m = asMap(out);
    assert.deepEqual(out.slice(0, 2), ['host', 'example.com']);
    for (const gone of ['connection', 'x-hop', 'keep-alive', 'te', 'upgrade', 'proxy-authorization']) assert.equal(m.has(gone), false, gone);
    assert.deepEqual(m.get('accept'), ['*/*']);
  });
  it('replaces forged X-Forwarded-* and Forwarded from an untrusted client', () => {
    const m = asMap(upstreamRequestHeaders(req(['X-Forwarded-For', '6.6.6.6', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'evil', 'Forwarded', 'for=6.6.6.6']), opts({ forwarded: true }), false));
    assert.deepEqual(m.get('x-forwarded-for'), ['192.0.2.10']);
    assert.deepEqual(m.get('x-forwarded-proto'), ['https']);
    assert.deepEqual(m.get('x-forwarded-host'), ['example.com']);
    assert.deepEqual(m.get('forwarded'), ['for=192.0.2.10;host=example.com;proto=https']);
  });
  it('extends them when the client is a trusted proxy (CIDR)', () => {
    const o = opts({ forwarded: true, trusted: new TrustedProxies(['10.0.0.0/8', '::1']) });
    const m = asMap(upstreamRequestHeaders(req(['X-Forwarded-For', '203.0.113.5', 'X-Forwarded-Proto', 'http', 'Forwarded', 'for=203.0.113.5'], '10.1.2.3'), o, false));
    assert.deepEqual(m.get('x-forwarded-for'), ['203.0.113.5, 10.1.2.3']);
    assert.deepEqual(m.get('x-forwarded-proto'), ['http']);
    assert.deepEqual(m.get('forwarded'), ['for=203.0.113.5, for=10.1.2.3;host=example.com;proto=https']);
    const v6 = asMap(upstreamRequestHeaders(req([], '::1'), o, false));
    assert.deepEqual(v6.get('forwarded'), ['for="[::1]";host=example.com;proto=https']);
  });
  it('appends Via, applies set/add/remove, and sends Upgrade only for pass-through', () => {
    const o = opts({ set: [['host', 'internal'], ['x-a', '1']], add: [['x-b', '2']], remove: new Set(['cookie']) });
    const out = upstreamRequestHeaders(req(['Via', '1.0 edge', 'Cookie', 'c=1', 'Upgrade', 'websocket', 'Connection', 'Upgrade']), o, true);
    const m = asMap(out);
    assert.deepEqual(out.slice(0, 2), ['host', 'internal']);
    assert.deepEqual(m.get('via'), ['1.0 edge, 1.1 anomaly']);
    assert.deepEqual(m.get('x-a'), ['1']);
    assert.deepEqual(m.get('x-b'), ['2']);
    assert.equal(m.has('cookie'), false);
    assert.deepEqual(m.get('upgrade'), ['websocket']);
    assert.deepEqual(m.get('connection'), ['upgrade']);
  });
  it('connectionTokens ignores close and keep-alive', () => {
    assert.equal(connectionTokens('close'), null);
    assert.deepEqual([...(connectionTokens(['keep-alive, X-A', 'x-b']) ?? [])], ['x-a', 'x-b']);
  });
  it('rejects malformed trusted_proxies entries', () => {
    assert.equal(TrustedProxies.check('10.0.0.0/8'), null);
    assert.equal(TrustedProxies.check('fd00::/8'), null);
    assert.match(TrustedProxies.check('10.0.0.0/33') ?? '', /prefix/);
    assert.match(TrustedProxies.check('localhost') ?? '', /not an IP/);
  });
});

describe('proxy response headers', () => {
  it('drops hop-by-hop fields, appends Via, applies set/remove', () => {
    const out = clientResponseHeaders(
      { connection: 'keep-alive, x-internal', 'x-internal': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'content-type': 'text/plain', server: 'py', via: '1.1 up' },
      { via: '1.1 anomaly', set: [['x-served-by', 'anomaly']], remove: new Set(['server']) },
    );
    assert.deepEqual(out, { 'content-type': 'text/plain', via: '1.1 up, 1.1 anomaly', 'x-served-by': 'anomaly' });
  });
});

describe('strip_prefix', () => {
  it('removes a whole-segment prefix and keeps the query', () => {
    assert.equal(upstreamPath('/api/users?x=1', '/api'), '/users?x=1');
    assert.equal(upstreamPath('/api', '/api'), '/');
    assert.equal(upstreamPath('/api?x', '/api'), '/?x');
    assert.equal(upstreamPath('/apix/y', '/api'), '/apix/y');
    assert.equal(upstreamPath('/other', '/api'), '/other');
    assert.equal(upstreamPath('/a', ''), '/a');
  });
});

describe('upstream group config', () => {
  it('fills defaults and reads targets, weights and checks', () => {
    const g = groupOptions('api', { to: ['http://a:1', { url: 'http://b:2/base', weight: 3 }], health: { active: { path: '/health', interval: '1s', expect_status: ['2xx', 301] } } }, 'upstreams.api');
    assert.equal(g.targets.length, 2);
    assert.equal(g.targets[1].weight, 3);
    assert.equal(g.policy, 'round_robin');
    assert.equal(g.retry.attempts, 2);
    assert.ok(g.active !== null && g.active.expect(204) && g.active.expect(301) && !g.active.expect(302));
    assert.ok(g.passive !== null);
  });
  it('explains bad values', () => {
    assert.throws(() => groupOptions('x', { to: ['http://a:1', 'http://a:1'] }, 'upstreams.x'), /upstreams\.x\.to\[1\]: .* listed twice/);
    assert.throws(() => groupOptions('x', { to: ['ftp://a'] }, 'p'), /http:\/\/ or https:\/\//);
    assert.throws(() => groupOptions('x', { to: ['http://a'], hash_key: 'uri' }, 'p'), /only used with balance: hash/);
    assert.throws(() => groupOptions('x', { to: ['http://a'], balance: 'hash', hash_key: 'nope' }, 'p'), /not a hash key/);
  });
});
