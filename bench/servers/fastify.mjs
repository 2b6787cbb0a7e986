// Reference server: fastify (logger off). GET /hello -> "hello world";
// with --static <dir>, @fastify/static serves <dir> at / (its defaults: etag, last-modified, streams).
import Fastify from 'fastify';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    static: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});

const app = Fastify({
  logger: false,
  keepAliveTimeout: 65_000,
  ...(opts.cert ? { https: { cert: readFileSync(opts.cert), key: readFileSync(opts.key) } } : {}),
});

app.get('/hello', (_req, reply) => {
  reply.type('text/plain').send('hello world');
});

if (opts.static) {
  const { default: fastifyStatic } = await import('@fastify/static');
  await app.register(fastifyStatic, { root: resolve(opts.static), prefix: '/' });
}

await app.listen({ port: Number(opts.port), host: opts.host });
console.log(`fastify listening on ${opts.host}:${app.server.address().port}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
