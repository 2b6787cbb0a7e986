// What is measured. Every scenario compares its servers side by side under the same load;
// ratios are against `reference`. `goal` (or `goals`) is the project's target for anomaly: a
// goal's `workers` says which run it applies to (default 1; run.mjs runs each scenario with 1 and
// with 2 worker processes per server), `against` compares with another server than the reference.

const WRK = { tool: 'wrk', threads: 1, connections: 50 };
const H2LOAD = { tool: 'h2load', threads: 1, connections: 10, streams: 10 };

export const SCENARIOS = [
  {
    name: 'hello-h1',
    title: 'hello world over HTTP/1.1 (keep-alive)',
    transport: 'h1', content: 'hello', path: '/hello', bytes: 11, load: WRK,
    servers: ['node', 'fastify', 'nginx', 'nginx-log', 'anomaly'],
    reference: 'node',
    goals: [
      { server: 'anomaly', metric: 'cpu', op: '<=', value: 1.15, text: 'CPU/request <= 1.15x raw Node http (access log on)' },
      { workers: 2, server: 'anomaly', metric: 'rps', op: '>=', value: 0.9, text: 'req/s >= 0.9x a raw Node cluster of 2 (2 workers each)' },
    ],
  },
  {
    name: 'hello-h2',
    title: 'hello world over HTTP/2 + TLS',
    transport: 'h2s', content: 'hello', path: '/hello', bytes: 11, load: H2LOAD,
    servers: ['node', 'nginx', 'anomaly'],
    reference: 'node',
    goal: { server: 'anomaly', metric: 'rps', op: '>=', value: 0.9, text: 'req/s >= 0.9x raw Node http2' },
  },
  {
    name: 'hello-h2c',
    optional: true,
    title: 'hello world over cleartext HTTP/2 (prior knowledge)',
    transport: 'h2c', content: 'hello', path: '/hello', bytes: 11, load: H2LOAD,
    servers: ['node', 'nginx', 'anomaly'],
    reference: 'node',
  },
  {
    name: 'static-1k',
    title: '1 KiB static file over HTTP/1.1',
    transport: 'h1', content: 'static', path: '/1k.txt', bytes: 1024, load: WRK,
    servers: ['nginx', 'node', 'fastify', 'anomaly'],
    reference: 'nginx',
    goals: [
      { server: 'anomaly', metric: 'rps', op: '>=', value: 0.7, text: 'req/s >= 0.7x nginx' },
      { server: 'anomaly', against: 'fastify', metric: 'rps', op: '>=', value: 5, text: 'req/s >= 5x fastify + @fastify/static' },
      { workers: 2, server: 'anomaly', metric: 'rps', op: '>=', value: 0.7, text: 'req/s >= 0.7x nginx (2 workers each)' },
    ],
  },
  {
    name: 'static-64k',
    title: '64 KiB static file over HTTP/1.1',
    transport: 'h1', content: 'static', path: '/64k.txt', bytes: 65536, load: WRK,
    servers: ['nginx', 'node', 'fastify', 'anomaly'],
    reference: 'nginx',
    goal: { server: 'anomaly', metric: 'rps', op: '>=', value: 0.9, text: 'req/s >= 0.9x nginx' },
  },
  {
    name: 'static-1m',
    title: '1 MiB static file over HTTP/1.1',
    transport: 'h1', content: 'static', path: '/1m.txt', bytes: 1024 * 1024, load: { ...WRK, connections: 16 },
    servers: ['nginx', 'node', 'fastify', 'anomaly'],
    reference: 'nginx',
  },
  {
    // The upstream (nginx answering "hello world") runs on the load generator's CPU, so that each
    // proxy has CPU 0 to itself; see bench/README.md.
    name: 'proxy-h1',
    title: 'reverse proxy over HTTP/1.1 to a keep-alive upstream (11-byte answer)',
    transport: 'h1', content: 'proxy', path: '/hello', bytes: 11, load: WRK,
    backend: 'nginx-hello',
    servers: ['nginx', 'anomaly', 'fastify', 'http-proxy', 'bare-undici', 'bare-agent'],
    reference: 'nginx',
    goal: { server: 'anomaly', metric: 'rps', op: '>=', value: 0.6, text: 'req/s >= 0.6x nginx proxy_pass (and >= 1.5x http-proxy)' },
  },
  {
    // Same upstream as proxy-h1 (its 1 KiB static file); one URL, so after the warm-up every
    // request is a cache HIT: nginx proxy_cache (file cache, page cache + sendfile) vs anomaly's
    // memory zone.
    name: 'cache-hit-h1',
    title: 'proxy cache HIT over HTTP/1.1 (1 KiB object)',
    transport: 'h1', content: 'cache', path: '/1k.txt', bytes: 1024, load: WRK,
    backend: 'nginx-hello',
    servers: ['nginx', 'anomaly'],
    reference: 'nginx',
    goal: { server: 'anomaly', metric: 'rps', op: '>=', value: 0.7, text: 'req/s >= 0.7x nginx proxy_cache' },
  },
  {
    name: 'tls-h1',
    title: 'hello world over HTTPS/1.1 (keep-alive)',
    transport: 'h1s', content: 'hello', path: '/hello', bytes: 11, load: WRK,
    servers: ['node', 'nginx', 'anomaly'],
    reference: 'node',
    goal: { server: 'anomaly', metric: 'rps', op: '>=', value: 0.9, text: 'req/s >= 0.9x raw Node https' },
  },
];
