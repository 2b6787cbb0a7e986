import assert from 'node:assert/strict';
import net, { type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Completion, RequestProcessor } from '../../../src/core/processor.js';
import type { Request } from '../../../src/core/request.js';
import { Response } from '../../../src/core/response.js';
import { Http1FastLane } from '../../../src/protocols/http1/fast-lane.js';

/** What the fake processor answers per path; every completion is recorded. */
const answers: Record<string, () => Response | Promise<Response>> = {
  '/ok': () => Response.text('ok'),
  '/bad-status': () => new Response(0, 'x'),
  '/split': () => new Response(200, 'x', { 'x-a': 'b\r\nx-evil: 1' }),
  '/throws': () => {
    throw new Error('boom');
  },
  '/slow': () => new Promise((resolve) => setTimeout(() => resolve(Response.text('slow')), 30)),
};
const completions: Array<{ path: string; done: Completion }> = [];
const processor: RequestProcessor = {
  handle: (req: Request) => (answers[req.path] ?? (() => Response.text('404', 404)))(),
  // No error mapping here: a rejection reaches the lane's own 500.
  recover: (_req, err) => {
    throw err;
  },
  completed: (req, _res, done) => void completions.push({ path: req.path, done }),
};

describe('Http1FastLane', () => {
  let server: net.Server;
  let port: number;
  const handedOff: Socket[] = [];
  before(async () => {
    const lane = new Http1FastLane({
      processor: () => processor,
      connInfo: () => ({ id: 1, remoteAddress: '127.0.0.1', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: null }),
      draining: () => false,
      bodyLimit: () => 1024,
      limits: () => ({ maxUri: 1024, maxHeaders: 50, maxHeaderSize: 8192, maxRequests: 0, idleTimeout: 5000 }),
      extraHeaders: [],
      handOff: (socket) => {
        handedOff.push(socket);
        socket.end('HTTP/1.1 418 Handed Off\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      },
    });
    server = net.createServer((socket) => lane.take(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => server.close());

  /** Sends `raw` and reads until the server closes or `timeoutMs` passes. */
  function exchange(raw: string, timeoutMs = 500): Promise<string> {
    return new Promise((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write(raw));
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      const done = (): void => resolve(out);
      s.on('close', done);
      setTimeout(() => {
        s.destroy();
        done();
      }, timeoutMs);
    });
  }

  it('answers pipelined requests in order, an async one included', async () => {
    const out = await exchange('GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.1\r\nHost: a\r\n\r\n');
    assert.ok(out.indexOf('slow') < out.lastIndexOf('ok'), out);
    assert.equal(out.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  });

  it('turns an invalid status, a splitting header and a throwing handler into 500s, logged', async () => {
    for (const path of ['/bad-status', '/split', '/throws']) {
      const out = await exchange(`GET ${path} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.match(out, /^HTTP\/1\.1 500 /, path);
      assert.ok(!out.includes('x-evil'), out);
      const c = completions.find((x) => x.path === path);
      assert.equal(c?.done.status, 500);
      assert.ok(c?.done.error instanceof Error);
    }
  });

  it('hands the connection over, once the answers owed are written, for what it does not parse', async () => {
    const out = await exchange('GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /ok HTTP/1.0\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 OK[\s\S]*HTTP\/1\.1 418 Handed Off/);
    assert.equal(handedOff.length, 1);
  });
});
