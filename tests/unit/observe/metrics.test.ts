import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestBody } from '../../../src/core/body.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { Request, type RouteTag } from '../../../src/core/request.js';
import { Response } from '../../../src/core/response.js';
import { PrometheusMetrics } from '../../../src/observe/metrics/prometheus.js';

function request(tag: RouteTag | null, protocol: 'h1' | 'h2' | 'h3' = 'h1', length: number | null = null): Request {
  const req = new Request({
    method: 'GET',
    scheme: 'http',
    authority: 'a.test',
    target: '/',
    protocol,
    headers: new HeaderMap([]),
    body: new RequestBody(null, length, 1024),
    conn: { id: 1, remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 80, tls: null },
  });
  req.tag = tag;
  return req;
}

const tag = (over: Partial<RouteTag> = {}): RouteTag => ({ tenant: 't', site: 'a.test', route: '/x', handler: 'app', engine: 'quickjs', slot: undefined, ...over });

function sample(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  assert.ok(found !== undefined, `no sample ${line} in:\n${text}`);
  return Number(found.slice(line.length + 1));
}

describe('request metrics', () => {
  it('counts by route, protocol and status, with latency, bytes and cache results', async () => {
    const m = new PrometheusMetrics();
    const t = tag();
    for (let i = 0; i < 3; i++) m.requests.completed(request(t, 'h2', 10), new Response(200, 'hello'), { status: 200, bytes: 5 });
    m.requests.completed(request(t, 'h1'), new Response(500, null), { status: 500, bytes: 0 });
    // The same route in a new config version (a new tag object) adds to the same series.
    m.requests.completed(request(tag(), 'h1'), new Response(200, null), { status: 200, bytes: 0 });
    m.requests.completed(request(null), null, { status: 404, bytes: 0, error: new Error('gone') });
    const cached = new Response(200, 'x', { 'cache-status': 'origin; fwd=miss, anomaly; hit; ttl=30' });
    m.requests.completed(request(tag({ route: '/c', handler: 'proxy', engine: null })), cached, { status: 200, bytes: 1 });
    const stale = new Response(200, 'x', { 'cache-status': 'anomaly; hit; ttl=-3' });
    m.requests.completed(request(tag({ route: '/c', handler: 'proxy', engine: null })), stale, { status: 200, bytes: 1 });
    const text = await m.text();
    const labels = 'tenant="t",site="a.test",route="/x",handler="app",language="quickjs"';
    assert.equal(sample(text, `anomaly_requests_total{${labels},protocol="h2",status="200"}`), 3);
    assert.equal(sample(text, `anomaly_requests_total{${labels},protocol="h1",status="500"}`), 1);
    assert.equal(sample(text, `anomaly_requests_total{${labels},protocol="h1",status="200"}`), 1);
    assert.equal(sample(text, 'anomaly_requests_total{tenant="",site="",route="",handler="",language="",protocol="h1",status="404"}'), 1);
    assert.equal(sample(text, `anomaly_request_duration_seconds_count{${labels}}`), 5);
    assert.equal(sample(text, `anomaly_request_duration_seconds_bucket{${labels},le="+Inf"}`), 5);
    assert.equal(sample(text, `anomaly_response_bytes_total{${labels}}`), 15);
    assert.equal(sample(text, `anomaly_request_bytes_total{${labels}}`), 30);
    const c = 'tenant="t",site="a.test",route="/c",handler="proxy",language=""';
    assert.equal(sample(text, `anomaly_cache_responses_total{${c},result="hit"}`), 1);
    assert.equal(sample(text, `anomaly_cache_responses_total{${c},result="stale"}`), 1);
    assert.match(text, /nodejs_eventloop_lag_seconds/);
    assert.match(text, /process_resident_memory_bytes/);
  });

  it('reads connections, TLS, apps and upstreams from the server when scraped', async () => {
    const m = new PrometheusMetrics();
    m.attach({
      status: () => ({
        startedAt: '',
        config: '',
        reloads: 2,
        requests: 0,
        connections: { total: 3, byProtocol: { h1: 1, h2: 2 }, topClients: [] },
        accepted: 9,
        draining: false,
        tls: { handshakes: 4, failures: 1 },
      }),
      routes: () => [
        {
          tag: tag(),
          status: { engine: 'quickjs', file: 'a.js', pool: { size: 2, busy: 1, free: 1, loading: 0, queued: 0 }, stats: { requests: 1, errors: { deadline: 2 }, rejected: 0, replaced: 1, reloads: 3, reloadFailures: 1 } },
        },
        { tag: tag({ route: '/p', handler: 'proxy', engine: null }), status: { upstream: 'api', targets: [{ target: 'http://x', up: true, ejected: false, inFlight: 2 }, { target: 'http://y', up: false, ejected: false, inFlight: 0 }] } },
      ],
    });
    const text = await m.text();
    assert.equal(sample(text, 'anomaly_connections{protocol="h2"}'), 2);
    assert.equal(sample(text, 'anomaly_tls_handshakes_total{result="failed"}'), 1);
    assert.equal(sample(text, 'anomaly_config_reloads_total'), 2);
    const app = 'tenant="t",site="a.test",route="/x",language="quickjs"';
    assert.equal(sample(text, `anomaly_app_instances{${app},state="busy"}`), 1);
    assert.equal(sample(text, `anomaly_app_errors_total{${app},kind="deadline"}`), 2);
    assert.equal(sample(text, `anomaly_app_reloads_total{${app},result="ok"}`), 3);
    assert.equal(sample(text, 'anomaly_upstream_up{upstream="api",target="http://y"}'), 0);
    assert.equal(sample(text, 'anomaly_upstream_in_flight{upstream="api",target="http://x"}'), 2);
  });
});
