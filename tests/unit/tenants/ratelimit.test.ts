import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeaderMap } from '../../../src/core/headers.js';
import { RequestBody } from '../../../src/core/body.js';
import { Request } from '../../../src/core/request.js';
import { Response } from '../../../src/core/response.js';
import type { RouteConfig } from '../../../src/config/types.js';
import { LocalBuckets } from '../../../src/ratelimit/buckets.js';
import { chainRouteWrappers, RouteLimiter } from '../../../src/ratelimit/layer.js';
import type { TenantConfig } from '../../../src/tenants/config.js';
import { parseRate } from '../../../src/tenants/config.js';

describe('LocalBuckets', () => {
  it('allows the burst at once, then refills at the rate and says how long to wait', async () => {
    const b = new LocalBuckets();
    const spec = { perSecond: 10, burst: 3 };
    assert.deepEqual([b.take('k', spec, 0), b.take('k', spec, 0), b.take('k', spec, 0)], [0, 0, 0]);
    assert.ok(Math.abs(b.take('k', spec, 0) - 0.1) < 1e-9);
    assert.equal(b.take('k', spec, 100), 0); // 100 ms = one token
    assert.ok(b.take('k', spec, 100) > 0);
    assert.equal(b.take('other', spec, 100), 0, 'keys are independent');
    // After a long idle period the bucket holds burst tokens, not more.
    assert.deepEqual([b.take('k', spec, 60_000), b.take('k', spec, 60_000), b.take('k', spec, 60_000)], [0, 0, 0]);
    assert.ok(b.take('k', spec, 60_000) > 0);
    await b.close();
  });

  it('parses rates', () => {
    assert.equal(parseRate('100/s'), 100);
    assert.equal(parseRate('30/min'), 0.5);
    assert.equal(parseRate('3600 / hour'), 1);
    assert.equal(parseRate(2.5), 2.5);
  });
});

function request(remoteAddress: string): Request {
  return new Request({
    method: 'GET',
    scheme: 'http',
    authority: 'a.test',
    target: '/',
    protocol: 'h1',
    headers: new HeaderMap([]),
    body: new RequestBody(null, 0, 1024),
    conn: { id: 1, remoteAddress, remotePort: 1, localAddress: '127.0.0.1', localPort: 80, tls: null },
  });
}

const tenant = (over: Partial<TenantConfig>): TenantConfig => ({
  name: 'a',
  rateLimit: null,
  clientRateLimit: null,
  maxConcurrent: 0,
  maxBody: null,
  apps: { deadline: null, memory: null },
  file: null,
  ...over,
});

const route = (over: Partial<RouteConfig>): RouteConfig => ({ path: '/', methods: null, module: 'respond', config: {}, where: 'x.yaml:3', cache: null, ...over });
const ok = () => new Response(200, 'ok');
const noLogger = {} as never;

describe('RouteLimiter', () => {
  it('does not wrap routes without limits', async () => {
    const limiter = new RouteLimiter(new LocalBuckets());
    assert.equal(await limiter.wrapRoute(route({}), ok, noLogger), null);
  });

  it('answers 429 with Retry-After past the tenant bucket, shared by all its routes', async () => {
    const limiter = new RouteLimiter(new LocalBuckets());
    const t = tenant({ rateLimit: { perSecond: 1, burst: 2 } });
    const one = await limiter.wrapRoute(route({ tenant: t, where: 'x:1' }), ok, noLogger);
    const two = await limiter.wrapRoute(route({ tenant: t, where: 'x:2' }), ok, noLogger);
    assert.ok(one !== null && two !== null);
    assert.equal((one.handle(request('1.1.1.1')) as Response).status, 200);
    assert.equal((two.handle(request('2.2.2.2')) as Response).status, 200);
    const refused = one.handle(request('3.3.3.3')) as Response;
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '1');
  });

  it('keeps one bucket per client address for per-client limits', async () => {
    const limiter = new RouteLimiter(new LocalBuckets());
    const wrapped = await limiter.wrapRoute(route({ rateLimit: { perSecond: 1 / 60, burst: 1, per: 'client' } }), ok, noLogger);
    assert.ok(wrapped !== null);
    assert.equal((wrapped.handle(request('1.1.1.1')) as Response).status, 200);
    const refused = wrapped.handle(request('1.1.1.1')) as Response;
    assert.equal(refused.status, 429);
    assert.equal(refused.headers['retry-after'], '60');
    assert.equal((wrapped.handle(request('2.2.2.2')) as Response).status, 200);
  });

  it('caps the requests of a tenant in flight at once (503) and frees the slot when one ends', async () => {
    const limiter = new RouteLimiter(new LocalBuckets());
    let release!: () => void;
    const slow = () => new Promise<Response>((resolve) => (release = () => resolve(new Response(200, 'done'))));
    const wrapped = await limiter.wrapRoute(route({ tenant: tenant({ maxConcurrent: 1 }) }), slow, noLogger);
    assert.ok(wrapped !== null);
    const first = wrapped.handle(request('1.1.1.1')) as Promise<Response>;
    assert.equal((wrapped.handle(request('1.1.1.1')) as Response).status, 503);
    release();
    assert.equal((await first).status, 200);
    const third = wrapped.handle(request('1.1.1.1')) as Promise<Response>;
    release();
    assert.equal((await third).status, 200);
  });

  it('chains wrappers innermost first and disposes them all', async () => {
    const order: string[] = [];
    const layer = (name: string) => async (_r: RouteConfig, inner: (req: Request) => unknown) => ({
      handle: (req: Request) => {
        order.push(name);
        return inner(req) as Response;
      },
      dispose: () => void order.push(`dispose ${name}`),
    });
    const chained = chainRouteWrappers(layer('inner'), async () => null, layer('outer'));
    const wrapped = await chained(route({}), ok, noLogger);
    assert.ok(wrapped !== null);
    wrapped.handle(request('1.1.1.1'));
    await wrapped.dispose?.();
    assert.deepEqual(order, ['outer', 'inner', 'dispose outer', 'dispose inner']);
  });
});
