import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Http1Pool } from '../../../src/upstream/h1-client.js';

const TIMEOUTS = { connect: 1000, firstByte: 300, idle: 300 };
const GET = (path: string) => ({ method: 'GET', path, headers: ['host', 'up'], body: null });

/** A raw upstream: each request head is answered by `answer(path, socket)`. */
function upstream(answer: (path: string, socket: net.Socket, method: string) => void): Promise<{ port: number; server: net.Server; connections: () => number }> {
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end !== -1; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        buf = buf.slice(end + 4 + length);
        const [method, path] = head.split(' ');
        answer(path, socket, method);
      }
    });
    socket.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, server, connections: () => connections })));
}

async function readAll(body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body;
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe('Http1Pool (own HTTP/1.1 upstream client)', () => {
  let up: Awaited<ReturnType<typeof upstream>>;
  let pool: Http1Pool;
  const big = Buffer.alloc(1 << 20, 97);
  before(async () => {
    up = await upstream((path, socket, method) => {
      if (path === '/small') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, x-private\r\nX-Private: 1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nsmall');
      else if (path === '/big') socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`), socket.write(big);
      else if (path === '/then-close') socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'); // closes without saying so
      else if (path === '/silent') return;
      else if (path === '/echo-method') socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${method.length}\r\n\r\n${method}`);
      else socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    });
    pool = new Http1Pool({ host: '127.0.0.1', port: up.port, timeouts: TIMEOUTS, keepAlive: 5000 });
  });
  after(async () => {
    await pool.close(0);
    up.server.close();
  });

  it('answers small bodies whole, drops hop-by-hop fields, and reuses the connection', async () => {
    const before = up.connections();
    for (let i = 0; i < 3; i++) {
      const a = await pool.request(GET('/small'), 64 * 1024);
      assert.equal(a.status, 200);
      assert.ok(Buffer.isBuffer(a.body));
      assert.equal(a.body.toString(), 'small');
      assert.deepEqual(a.headers['set-cookie'], ['a=1', 'b=2']);
      assert.equal(a.headers['x-private'], undefined);
      assert.equal(a.headers.connection, undefined);
    }
    assert.equal(up.connections() - before, 1);
  });

  it('streams large bodies with backpressure, byte-exact', async () => {
    const a = await pool.request(GET('/big'), 64 * 1024);
    assert.ok(!Buffer.isBuffer(a.body));
    assert.ok((await readAll(a.body)).equals(big));
  });

  it('sends an idempotent request again when a reused connection was closed under it; not a POST', async () => {
    const first = await pool.request(GET('/then-close'), 1024);
    assert.equal((first.body as Buffer).toString(), 'ok');
    // The upstream closed the connection; the pool may still hold it for a moment (the keep-alive race).
    const again = await pool.request(GET('/small'), 1024);
    assert.equal(again.status, 200);
    const post = await pool.request({ method: 'POST', path: '/echo-method', headers: ['host', 'up'], body: Buffer.from('x') }, 1024);
    assert.equal((post.body as Buffer).toString(), 'POST');
  });

  it('times out a silent upstream with UND_ERR_HEADERS_TIMEOUT', async () => {
    await assert.rejects(pool.request(GET('/silent'), 1024), (err: NodeJS.ErrnoException) => err.code === 'UND_ERR_HEADERS_TIMEOUT');
  });

  it('reports a refused connection with the socket error code', async () => {
    const closed = net.createServer();
    const port = await new Promise<number>((resolve) => closed.listen(0, '127.0.0.1', () => resolve((closed.address() as AddressInfo).port)));
    await new Promise((resolve) => closed.close(resolve));
    const dead = new Http1Pool({ host: '127.0.0.1', port, timeouts: TIMEOUTS, keepAlive: 1000 });
    await assert.rejects(dead.request(GET('/x'), 1024), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    await dead.close(0);
  });

  it('refuses a header value that would split the request', async () => {
    await assert.rejects(pool.request({ method: 'GET', path: '/small', headers: ['host', 'up', 'x-a', 'b\r\nx-evil: 1'], body: null }, 1024), /invalid value/);
    await assert.rejects(pool.request({ method: 'GET', path: '/a HTTP/1.1\r\nx-evil: 1\r\n\r\nGET /b', headers: ['host', 'up'], body: null }, 1024), /invalid request target/);
  });
});
