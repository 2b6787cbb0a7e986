import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Completion, RequestProcessor } from '../../../src/core/processor.js';
import type { Request } from '../../../src/core/request.js';
import { Response } from '../../../src/core/response.js';
import type { NativeQuicServer } from '../../../src/protocols/http3/native.js';
import { H3Error, H3Stream, type StreamContext, type StreamHost } from '../../../src/protocols/http3/stream.js';

type Call = [string, ...unknown[]];

/** Records what the stream asks of the binding; sendBody reports `pending` queued bytes. */
function fakeHost(pending = 0): StreamHost & { calls: Call[]; forgotten: number; scheduled: number } {
  const calls: Call[] = [];
  // Field sections cross as "name\0value\0..."; recorded as arrays for readable assertions.
  const rec =
    (name: string, ret: unknown = true) =>
    (...args: unknown[]) => {
      calls.push([name, ...args.slice(2).map((a) => (typeof a === 'string' && a.includes('\0') ? a.split('\0') : a))]);
      return ret;
    };
  const quic = {
    respond: rec('respond'),
    sendHeaders: rec('sendHeaders'),
    sendBody: (...args: unknown[]) => {
      calls.push(['sendBody', ...args.slice(2)]);
      return pending;
    },
    wantDrain: rec('wantDrain'),
    sendTrailers: rec('sendTrailers'),
    setReading: rec('setReading'),
    stopReading: rec('stopReading'),
    resetStream: rec('resetStream'),
  } as unknown as NativeQuicServer;
  const host = {
    quic,
    calls,
    forgotten: 0,
    scheduled: 0,
    schedule() {
      host.scheduled++;
    },
    forget() {
      host.forgotten++;
    },
    debug() {},
  };
  return host;
}

function processor(handler: (req: Request) => Response | Promise<Response>): RequestProcessor & { done: Completion[]; seen: Request[] } {
  const p = {
    done: [] as Completion[],
    seen: [] as Request[],
    handle(req: Request) {
      p.seen.push(req);
      return handler(req);
    },
    recover(_req: Request, err: unknown): Response {
      throw err; // no error mapping: the stream's own 500
    },
    completed(_req: Request, _res: Response | null, done: Completion) {
      p.done.push(done);
    },
  };
  return p;
}

const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 443, tls: null };
const ctx = (proc: RequestProcessor): StreamContext => ({ processor: proc, conn, bodyLimit: 1 << 20, maxHeaders: 50, maxHeaderSize: 8192 });
const head = (method = 'GET', path = '/', extra: string[] = []): string[] => [':method', method, ':scheme', 'https', ':authority', 'h.test', ':path', path, ...extra];
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('H3Stream: request → processor → binding calls', () => {
  it('answers an in-memory body in one respond() call with content-length', () => {
    const host = fakeHost();
    const proc = processor(() => Response.text('hello'));
    new H3Stream(host, 1, 0).start(head(), true, ctx(proc));
    assert.deepEqual(host.calls, [['respond', [':status', '200', 'content-type', 'text/plain; charset=utf-8', 'content-length', '5'], Buffer.from('hello'), true]]);
    assert.equal(proc.seen[0].protocol, 'h3');
    assert.equal(proc.seen[0].authority, 'h.test');
    assert.deepEqual(proc.done, [{ status: 200, bytes: 5 }]);
    assert.equal(host.forgotten, 1);
  });

  it('HEAD, 204 and 304 carry no body; HEAD keeps content-length', () => {
    for (const [method, status, body] of [['HEAD', 200, 'abc'], ['GET', 204, null], ['GET', 304, 'ignored']] as const) {
      const host = fakeHost();
      new H3Stream(host, 1, 0).start(head(method), true, ctx(processor(() => new Response(status, body))));
      const [name, fields, bytes, fin] = host.calls[0];
      assert.equal(name, 'respond');
      assert.equal(bytes, null);
      assert.equal(fin, true);
      const f = fields as string[];
      assert.equal(f.includes('content-length'), method === 'HEAD', `${method} ${status}: ${f.join(',')}`);
    }
  });

  it('drops connection-specific response fields and repeats multi-valued ones', () => {
    const host = fakeHost();
    const res = new Response(200, 'x', { connection: 'close', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'] });
    new H3Stream(host, 1, 0).start(head(), true, ctx(processor(() => res)));
    assert.deepEqual(host.calls[0][1], [':status', '200', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-length', '1']);
  });

  it('sends trailers after an in-memory body', () => {
    const host = fakeHost();
    const res = Response.text('body');
    res.trailers = { 'x-checksum': 'abc' };
    new H3Stream(host, 1, 0).start(head(), true, ctx(processor(() => res)));
    assert.deepEqual(host.calls.map((c) => c[0]), ['respond', 'sendTrailers']);
    assert.equal(host.calls[0][3], false, 'no FIN before the trailers');
    assert.deepEqual(host.calls[1][1], ['x-checksum', 'abc']);
  });

  it('streams a Readable body, waiting for DRAINED above the high-water mark, then FIN', async () => {
    const host = fakeHost(1 << 20); // the binding reports a full queue
    const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2)];
    const proc = processor(() => new Response(200, Readable.from(chunks)));
    const stream = new H3Stream(host, 1, 4);
    stream.start(head(), true, ctx(proc));
    await tick();
    await tick();
    const bodies = (): Call[] => host.calls.filter((c) => c[0] === 'sendBody');
    assert.equal(bodies().length, 1, 'second chunk waits for DRAINED');
    assert.ok(host.calls.some((c) => c[0] === 'wantDrain'));
    stream.drained();
    await tick();
    stream.drained();
    await tick();
    await tick();
    const last = bodies().at(-1) as Call;
    assert.equal((last[1] as Buffer).length, 0);
    assert.equal(last[2], true, 'FIN');
    assert.deepEqual(proc.done, [{ status: 200, bytes: 2000 }]);
  });

  it('feeds the request body with backpressure: pauses the binding, resumes on read', async () => {
    const host = fakeHost();
    let received = 0;
    const proc = processor(async (req) => {
      const body = req.body.stream() as Readable;
      await new Promise((r) => setTimeout(r, 20)); // not reading yet
      for await (const c of body) received += (c as Buffer).length;
      return Response.text('ok');
    });
    const stream = new H3Stream(host, 1, 0);
    stream.start(head('POST', '/up', ['content-length', String(200 * 1024)]), false, ctx(proc));
    for (let i = 0; i < 2; i++) stream.data(Buffer.alloc(50 * 1024));
    assert.ok(host.calls.some((c) => c[0] === 'setReading' && c[1] === false), 'paused above the high-water mark');
    await new Promise((r) => setTimeout(r, 50)); // the handler starts reading
    assert.ok(host.calls.some((c) => c[0] === 'setReading' && c[1] === true), 'resumed when read');
    for (let i = 0; i < 2; i++) stream.data(Buffer.alloc(50 * 1024));
    stream.end();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(received, 200 * 1024);
    assert.equal(host.calls.at(-1)?.[0], 'respond');
  });

  it('a body longer or shorter than content-length resets the stream with H3_MESSAGE_ERROR', () => {
    const host = fakeHost();
    const s = new H3Stream(host, 1, 0);
    s.start(head('POST', '/', ['content-length', '3']), false, ctx(processor(() => new Promise<Response>(() => {}))));
    s.data(Buffer.from('abcd'));
    assert.deepEqual(host.calls.at(-1), ['resetStream', H3Error.MessageError]);

    const host2 = fakeHost();
    const s2 = new H3Stream(host2, 1, 0);
    s2.start(head('POST', '/', ['content-length', '3']), false, ctx(processor(() => new Promise<Response>(() => {}))));
    s2.data(Buffer.from('ab'));
    s2.end();
    assert.deepEqual(host2.calls.at(-1), ['resetStream', H3Error.MessageError]);
  });

  it('malformed heads are stream errors; too many fields get 431', () => {
    const host = fakeHost();
    new H3Stream(host, 1, 0).start([':method', 'GET', ':path', '/'], true, ctx(processor(() => Response.text('no'))));
    assert.deepEqual(host.calls, [['resetStream', H3Error.MessageError]]);

    const host2 = fakeHost();
    const many = Array.from({ length: 60 }, (_, i) => [`x-${i}`, 'v']).flat();
    const proc = processor(() => Response.text('no'));
    new H3Stream(host2, 1, 0).start(head('GET', '/', many), true, ctx(proc));
    assert.equal((host2.calls[0][1] as string[])[1], '431');
    assert.equal(proc.seen.length, 0);
  });

  it('an unread request body is stopped (STOP_SENDING) once the response is out', () => {
    const host = fakeHost();
    new H3Stream(host, 1, 0).start(head('POST', '/'), false, ctx(processor(() => Response.text('ignored your body'))));
    assert.deepEqual(host.calls.map((c) => c[0]), ['respond', 'stopReading']);
  });

  it('handler errors become 500; a client reset reports the request as failed', async () => {
    const host = fakeHost();
    const proc = processor(() => {
      throw new Error('boom');
    });
    new H3Stream(host, 1, 0).start(head(), true, ctx(proc));
    assert.equal((host.calls[0][1] as string[])[1], '500');
    assert.equal(proc.done[0].status, 500);

    const host2 = fakeHost();
    let resolve: (r: Response) => void = () => {};
    const proc2 = processor(() => new Promise<Response>((r) => (resolve = r)));
    const s = new H3Stream(host2, 1, 0);
    s.start(head(), true, ctx(proc2));
    s.aborted('stream reset by the client (0x10c)');
    resolve(Response.text('late'));
    await tick();
    assert.equal(host2.calls.length, 0, 'nothing written to a reset stream');
    assert.match(proc2.done[0].error?.message ?? '', /closed by the client/);
  });
});
