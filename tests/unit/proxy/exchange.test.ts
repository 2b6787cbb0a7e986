import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import { exchange } from '../../../src/upstream/exchange.js';

describe('upstream exchange (undici dispatch)', () => {
  let server: http.Server;
  let pool: Pool;
  let aborted = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/small') {
        res.writeHead(200, { 'content-length': '5', connection: 'keep-alive, x-private', 'x-private': '1', 'set-cookie': ['a=1', 'b=2'] });
        res.end('small');
      } else if (req.url === '/chunked') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1-');
        setTimeout(() => res.end('part2'), 20);
      } else if (req.url === '/endless') {
        res.writeHead(200);
        const timer = setInterval(() => res.write(Buffer.alloc(16384, 120)), 1);
        res.on('close', () => {
          clearInterval(timer);
          aborted++;
        });
      } else {
        res.writeHead(404, { 'content-length': '0' });
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(async () => {
    await pool.destroy();
    server.close();
  });

  it('buffers a small answer of known length and drops hop-by-hop fields', async () => {
    const answer = await exchange(pool, { method: 'GET', path: '/small' }, 65536);
    assert.equal(answer.status, 200);
    assert.ok(Buffer.isBuffer(answer.body));
    assert.equal(answer.body.toString(), 'small');
    assert.equal(answer.headers.connection, undefined);
    assert.equal(answer.headers['x-private'], undefined);
    assert.deepEqual(answer.headers['set-cookie'], ['a=1', 'b=2']);
  });

  it('streams an answer without a length', async () => {
    const answer = await exchange(pool, { method: 'GET', path: '/chunked' }, 65536);
    assert.ok(answer.body instanceof Readable);
    assert.equal(answer.headers['transfer-encoding'], undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of answer.body as Readable) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), 'part1-part2');
  });

  it('destroying the stream aborts the upstream request', async () => {
    const answer = await exchange(pool, { method: 'GET', path: '/endless' }, 65536);
    const body = answer.body as Readable;
    await new Promise((resolve) => body.once('data', resolve));
    body.destroy();
    const deadline = Date.now() + 2000;
    while (aborted === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(aborted, 1);
  });

  it('rejects on a connection failure', async () => {
    const dead = new Pool('http://127.0.0.1:1');
    await assert.rejects(exchange(dead, { method: 'GET', path: '/' }, 65536), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    await dead.destroy();
  });
});
