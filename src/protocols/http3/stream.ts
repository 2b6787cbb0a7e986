import { Readable, Writable } from 'node:stream';
import { RequestBody } from '../../core/body.js';
import { HeaderMap } from '../../core/headers.js';
import { runProcessor, type RequestProcessor } from '../../core/processor.js';
import { Request, type ConnectionInfo } from '../../core/request.js';
import { bodyLength, statusHasNoBody, type Response, type ResponseHeaders } from '../../core/response.js';
import { CONNECTION_SPECIFIC } from '../headers-out.js';
import { bodyStream, discardBody, streamReport } from '../stream-report.js';
import type { NativeQuicServer } from './native.js';
import { parseRequestHead } from './request-head.js';

/** HTTP/3 error codes (RFC 9114 §8.1). */
export const H3Error = {
  NoError: 0x100,
  InternalError: 0x102,
  RequestCancelled: 0x10c,
  MessageError: 0x10e,
} as const;

/** Bytes a response may have queued in the binding before its writer waits for DRAINED. */
const WRITE_HIGH_WATER = 64 * 1024;
/** Request body bytes buffered in JS before reading pauses (then QUIC flow control holds the client). */
const READ_HIGH_WATER = 64 * 1024;

/** What a stream needs from its endpoint. */
export interface StreamHost {
  readonly quic: NativeQuicServer;
  /** Arranges a drive() soon (queued writes only leave on the next drive). */
  schedule(): void;
  forget(stream: H3Stream): void;
  debug(obj: object, msg: string): void;
}

export interface StreamContext {
  readonly processor: RequestProcessor;
  readonly conn: ConnectionInfo;
  readonly bodyLimit: number;
  readonly maxHeaders: number;
  readonly maxHeaderSize: number;
}

/**
 * One request stream: feeds the request body to the handler (pausing the binding's reads when the
 * handler is slower) and writes the handler's Response (waiting for DRAINED when the client is slower).
 */
export class H3Stream {
  readonly connId: number;
  readonly id: number;
  readonly #host: StreamHost;
  #body: RequestBodyStream | null = null;
  #received = 0;
  #declared: number | null = null;
  #requestDone = false;
  #responseDone = false;
  #closed = false;
  #drainWaiter: (() => void) | null = null;
  #onAbort: ((err: Error) => void) | null = null;

  constructor(host: StreamHost, connId: number, id: number) {
    this.#host = host;
    this.connId = connId;
    this.id = id;
  }

  /** The request head arrived: validate, build the Request, run the processor. */
  start(flat: string[], ended: boolean, ctx: StreamContext): void {
    const head = parseRequestHead(flat);
    if (!head.ok) {
      this.#host.debug({ reason: head.reason, stream: this.id }, 'malformed HTTP/3 request');
      this.reset(H3Error.MessageError);
      return;
    }
    if (head.fieldCount > ctx.maxHeaders || fieldSectionSize(flat) > ctx.maxHeaderSize) {
      this.#requestDone = ended;
      this.#respondPlain(431, '431 Request Header Fields Too Large\n');
      return;
    }
    if (head.method === 'CONNECT') {
      this.#requestDone = ended;
      this.#respondPlain(501, 'CONNECT is not supported\n');
      return;
    }
    this.#declared = head.contentLength;
    this.#requestDone = ended;
    if (ended && head.contentLength !== null && head.contentLength !== 0) {
      this.reset(H3Error.MessageError);
      return;
    }
    let body: RequestBodyStream | null = null;
    if (!ended) {
      body = new RequestBodyStream(this);
      this.#body = body;
    }
    const req = new Request({
      method: head.method,
      scheme: head.scheme === 'http' ? 'http' : 'https',
      authority: head.authority,
      target: head.path,
      protocol: 'h3',
      headers: new HeaderMap(flat),
      body: new RequestBody(body, ended ? 0 : head.contentLength, ctx.bodyLimit),
      conn: ctx.conn,
    });
    const processor = ctx.processor;
    runProcessor(processor, req, this, null, H3Stream.#answer, H3Stream.#failed);
  }

  static #answer(self: H3Stream, _: null, req: Request, res: Response, processor: RequestProcessor): void {
    self.#write(req, res, processor);
  }

  static #failed(self: H3Stream, _: null, req: Request, err: Error, processor: RequestProcessor): void {
    self.#fail(req, processor, err);
  }

  /** Request body bytes from the binding. */
  data(chunk: Buffer): void {
    const body = this.#body;
    this.#received += chunk.length;
    if (this.#declared !== null && this.#received > this.#declared) {
      // RFC 9114 §4.1.2: more DATA than content-length is a malformed request.
      this.reset(H3Error.MessageError);
      return;
    }
    if (body === null || body.destroyed) return;
    if (!body.push(chunk)) {
      body.paused = true;
      this.#host.quic.setReading(this.connId, this.id, false);
    }
  }

  /** The request stream ended (FIN). */
  end(): void {
    if (this.#requestDone && this.#body === null) return;
    this.#requestDone = true;
    const body = this.#body;
    if (this.#declared !== null && this.#received !== this.#declared) {
      this.reset(H3Error.MessageError);
      return;
    }
    if (body !== null && !body.destroyed) body.push(null);
    this.#maybeForget();
  }

  /** The body reader wants more: resume the binding's reads. */
  resumeReading(): void {
    this.#host.quic.setReading(this.connId, this.id, true);
    this.#host.schedule();
  }

  /** The client reset the stream, or the connection closed. */
  aborted(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new Error(reason);
    if (this.#body !== null && !this.#body.readableEnded) this.#body.destroy(err);
    this.#onAbort?.(err);
    this.#drainWaiter = null;
    this.#host.forget(this);
  }

  /** Everything queued on the stream was taken by quiche. */
  drained(): void {
    const waiter = this.#drainWaiter;
    this.#drainWaiter = null;
    waiter?.();
  }

  /** Abandons the stream with an HTTP/3 error code. */
  reset(code: number): void {
    if (this.#closed) return;
    this.#host.quic.resetStream(this.connId, this.id, code);
    this.#host.schedule();
    this.aborted(`stream reset by the server (0x${code.toString(16)})`);
  }

  #maybeForget(): void {
    if (this.#responseDone && this.#requestDone && !this.#closed) {
      this.#closed = true;
      this.#host.forget(this);
    }
  }

  #respondPlain(status: number, text: string): void {
    const q = this.#host.quic;
    q.respond(this.connId, this.id, `:status\0${status}\0content-type\0text/plain; charset=utf-8\0content-length\0${text.length}`, Buffer.from(text), true);
    this.#finishResponse(null);
  }

  /** The response is fully queued: stop a request body nobody will read, then forget the stream. */
  #finishResponse(req: Request | null): void {
    this.#responseDone = true;
    if (!this.#requestDone && (req === null || !req.body.used)) {
      // RFC 9114 §4.1: the response is complete; ask the client to stop sending (H3_NO_ERROR).
      this.#host.quic.stopReading(this.connId, this.id);
      this.#requestDone = true;
      this.#body?.destroy();
    }
    this.#host.schedule();
    this.#maybeForget();
  }

  /** The response head could not be queued: the stream is gone, or a field holds a NUL. */
  #badFields(req: Request, res: Response, processor: RequestProcessor): void {
    discardBody(res.body);
    this.reset(H3Error.InternalError);
    processor.completed(req, res, { status: res.status, bytes: 0, error: new Error('response head not sent (stream closed or a field contains NUL)') });
  }

  #fail(req: Request, processor: RequestProcessor, err: Error): void {
    if (!this.#closed) {
      this.#host.quic.sendHeaders(this.connId, this.id, [':status', '500', 'content-length', '0'].join('\0'), true);
      this.#finishResponse(req);
    }
    processor.completed(req, null, { status: 500, bytes: 0, error: err });
  }

  #write(req: Request, res: Response, processor: RequestProcessor): void {
    const status = res.status;
    if (this.#closed) {
      discardBody(res.body);
      processor.completed(req, res, { status, bytes: 0, error: new Error('stream closed by the client') });
      return;
    }
    const body = res.body;
    const q = this.#host.quic;
    const head = [':status', String(status)];
    appendFields(head, res.headers);
    const noBody = req.method === 'HEAD' || statusHasNoBody(status);
    const length = bodyLength(body);
    const trailers = noBody ? null : res.trailers;
    if (length !== null && !statusHasNoBody(status) && res.headers['content-length'] === undefined) head.push('content-length', String(length));
    const fields = head.join('\0');
    if (noBody || (length === 0 && trailers === null)) {
      if (!q.respond(this.connId, this.id, fields, null, true)) {
        this.#badFields(req, res, processor);
        return;
      }
      discardBody(body);
      this.#finishResponse(req);
      processor.completed(req, res, { status, bytes: 0 });
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array || body === null) {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body === null ? Buffer.alloc(0) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
      if (!q.respond(this.connId, this.id, fields, bytes, trailers === null)) {
        this.#badFields(req, res, processor);
        return;
      }
      if (trailers !== null) q.sendTrailers(this.connId, this.id, fieldList(trailers));
      this.#finishResponse(req);
      processor.completed(req, res, { status, bytes: bytes.length });
      return;
    }
    // A file or a stream: piped through a writer that honours the binding's backpressure.
    if (!q.sendHeaders(this.connId, this.id, fields, false)) {
      this.#badFields(req, res, processor);
      return;
    }
    this.#host.schedule();
    const report = streamReport(processor, req, res);
    const source = bodyStream(body);
    report.watch(source);
    const sink = new Writable({
      highWaterMark: WRITE_HIGH_WATER,
      write: (chunk: Buffer, _enc, cb) => {
        if (this.#closed) {
          cb(new Error('stream closed by the client'));
          return;
        }
        const pending = q.sendBody(this.connId, this.id, chunk, false);
        this.#host.schedule();
        if (pending > WRITE_HIGH_WATER) {
          this.#drainWaiter = () => cb();
          q.wantDrain(this.connId, this.id);
        } else {
          cb();
        }
      },
      final: (cb) => {
        if (!this.#closed) {
          if (trailers !== null) q.sendTrailers(this.connId, this.id, fieldList(trailers));
          else q.sendBody(this.connId, this.id, Buffer.alloc(0), true);
          this.#finishResponse(req);
        }
        report.done();
        cb();
      },
    });
    this.#onAbort = (err) => {
      if (!source.readableEnded) source.destroy();
      sink.destroy();
      report.done(err);
    };
    source.once('error', (err) => {
      this.reset(H3Error.InternalError);
      report.done(err);
    });
    sink.on('error', () => {});
    source.pipe(sink);
  }
}

/** Request body stream; reading from it resumes the binding's reads after a pause. */
class RequestBodyStream extends Readable {
  paused = false;
  readonly #owner: H3Stream;

  constructor(owner: H3Stream) {
    super({ highWaterMark: READ_HIGH_WATER });
    this.#owner = owner;
    // A reset destroys the stream with an error; a handler that never read the body must not crash
    // the process with an unhandled 'error' (the body helpers attach their own listener).
    this.on('error', noop);
  }

  override _read(): void {
    if (this.paused) {
      this.paused = false;
      this.#owner.resumeReading();
    }
  }
}

const noop = (): void => {};

/** RFC 9114 §4.2.2 accounting: name + value + 32 per field. */
function fieldSectionSize(flat: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < flat.length; i++) size += flat[i].length;
  return size + 16 * flat.length;
}

function appendFields(out: string[], headers: ResponseHeaders): void {
  for (const name in headers) {
    if (CONNECTION_SPECIFIC.has(name)) continue;
    const v = headers[name];
    if (typeof v === 'string') out.push(name, v);
    else if (Array.isArray(v)) for (const item of v) out.push(name, item);
    else if (v !== undefined && v !== null) out.push(name, String(v));
  }
}

function fieldList(headers: ResponseHeaders): string {
  const out: string[] = [];
  appendFields(out, headers);
  return out.join('\0');
}
