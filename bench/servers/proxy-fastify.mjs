// Reference proxy: fastify + @fastify/http-proxy (undici to the upstream, keep-alive).
//   node bench/servers/proxy-fastify.mjs --port 8080 --upstream http://127.0.0.1:9000
import Fastify from 'fastify';
import httpProxy from '@fastify/http-proxy';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { port: { type: 'string', default: '8080' }, upstream: { type: 'string' } } });
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(httpProxy, { upstream: opts.upstream, prefix: '/', http2: false });
await app.listen({ port: Number(opts.port), host: '127.0.0.1' });
