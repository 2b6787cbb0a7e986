/**
 * The HTTP/1.1 fast lane: serves the common requests of a connection straight from its socket,
 * without node:http's IncomingMessage/ServerResponse streams (≈6 µs of CPU per request here,
 * a third of a hello's cost; bench/README.md).
 *
 * It takes only what it can parse completely and strictly (simple-head.ts): a whole head, and a
 * Content-Length body that has fully arrived. Anything else — a head or body split across reads,
 * chunked uploads, Upgrade, Expect, HTTP/1.0, odd syntax, oversize heads — and the connection is
 * handed to node:http for good, with the unparsed bytes pushed back, once every response the
 * lane owes is written. node:http then applies all the rules of adapter.ts and head-rules.ts, so
 * every refusal and every timeout of a slow client keeps a single implementation.
 *
 * Requests of one connection are answered one at a time, in order (pipelined ones wait in the
 * buffer); reading pauses while a response waits for the socket to drain.
 */
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { RequestBody } from '../../core/body.js';
import { HeaderMap } from '../../core/headers.js';
import { runProcessor, type RequestProcessor } from '../../core/processor.js';
import { Request, type ConnectionInfo } from '../../core/request.js';
import { bodyLength, statusHasNoBody, type Response } from '../../core/response.js';
import type { ExtraHeaders } from '../headers-out.js';
import { bodyStream, discardBody, streamReport } from '../stream-report.js';
import { kServed } from './adapter.js';
import { chunkedEnd, headKeepsAlive, responseHead, InvalidHeaderError, type Framing, type ResponseHead } from './response-head.js';
import { parseSimpleHead, type HeadLimits, type SimpleHead } from './simple-head.js';

export interface FastLaneLimits extends HeadLimits {
  /** Requests per connection, then "connection: close" (0: no limit). */
  readonly maxRequests: number;
  /** Idle keep-alive time (ms) before the connection is closed. */
  readonly idleTimeout: number;
}

export interface FastLaneOptions {
  readonly processor: () => RequestProcessor;
  readonly connInfo: (socket: Socket) => ConnectionInfo;
  /** True while the server drains: responses then close their connection. */
  readonly draining: () => boolean;
  readonly bodyLimit: () => number;
  readonly limits: () => FastLaneLimits;
  readonly extraHeaders: ExtraHeaders;
  /** Gives the connection to node:http; unparsed bytes are already back in the socket. */
  readonly handOff: (socket: Socket) => void;
}

/** Unparsed bytes kept while a response is in progress before reading pauses. */
const MAX_BUFFERED = 64 * 1024;
/** Bodies up to this size are copied behind the head into one write (one TLS record, no writev). */
const COPY_BODY_BYTES = 16 * 1024;

export class Http1FastLane {
  readonly #opts: FastLaneOptions;
  readonly #open = new Set<LaneConnection>();

  constructor(opts: FastLaneOptions) {
    this.#opts = opts;
  }

  /** Serves a new HTTP/1.1 connection (its first bytes may already wait in the socket). */
  take(socket: Socket): void {
    const conn = new LaneConnection(socket, this.#opts, this.#open);
    this.#open.add(conn);
  }

  /** Closes connections with no request in progress (graceful drain). */
  closeIdle(): void {
    for (const conn of this.#open) conn.closeIfIdle();
  }
}

type Served = Socket & { [kServed]?: number };

class LaneConnection {
  readonly #socket: Socket;
  readonly #opts: FastLaneOptions;
  readonly #open: Set<LaneConnection>;
  /** Received bytes not parsed yet, as latin1 (byte-exact). */
  #buf = '';
  /** A request is being handled or its response streamed: later ones wait. */
  #busy = false;
  /** The socket asked us to wait for 'drain'. */
  #blocked = false;
  /** Closing after the current response: nothing more is read. */
  #closing = false;
  /** Whether the connection may stay open after the request being answered (one at a time). */
  #keepAlive = true;
  #streaming: Readable | null = null;
  #onStreamClose: (() => void) | null = null;

  constructor(socket: Socket, opts: FastLaneOptions, open: Set<LaneConnection>) {
    this.#socket = socket;
    this.#opts = opts;
    this.#open = open;
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('timeout', this.#onTimeout);
    socket.on('error', this.#onError);
    socket.once('close', this.#onClose);
    socket.setTimeout(opts.limits().idleTimeout);
  }

  closeIfIdle(): void {
    // Not while an answer still waits in the socket's buffer for a slow reader.
    if (!this.#busy && !this.#blocked && this.#buf.length === 0 && this.#socket.writableLength === 0) this.#socket.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    if (this.#closing) return;
    this.#buf = this.#buf.length === 0 ? chunk.toString('latin1') : this.#buf + chunk.toString('latin1');
    if (this.#busy || this.#blocked) {
      if (this.#buf.length > MAX_BUFFERED) this.#socket.pause();
      return;
    }
    this.#pump();
  };

  readonly #onDrain = (): void => {
    this.#blocked = false;
    if (this.#streaming !== null) this.#streaming.resume();
    else if (!this.#busy) this.#pump();
  };

  readonly #onTimeout = (): void => {
    // Idle keep-alive, or a reader that stopped taking the response it is owed.
    if (!this.#busy || this.#socket.writableNeedDrain) this.#socket.destroy();
  };

  /** Some errors are only emitted, not followed by a close (node's TLS renegotiation limit): close here. */
  readonly #onError = (): void => {
    this.#socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#open.delete(this);
    this.#onStreamClose?.();
  };

  /** Serves every complete request in the buffer, in order, until one has to wait. */
  #pump(): void {
    const limits = this.#opts.limits();
    while (!this.#busy && !this.#blocked && !this.#closing && this.#buf.length > 0) {
      const buf = this.#buf;
      const head = parseSimpleHead(buf, limits);
      if (typeof head === 'string') return this.#handOff();
      const end = head.end + head.length;
      if (end > buf.length) return this.#handOff(); // the body is still arriving: node:http streams it
      const body = head.length === 0 ? null : buf.slice(head.end, end);
      this.#buf = end === buf.length ? '' : buf.slice(end);
      this.#serve(head, body, limits);
    }
    if (this.#socket.isPaused() && !this.#busy && !this.#blocked && !this.#closing) this.#socket.resume();
  }

  /** node:http takes the connection from here on, starting with the bytes we did not parse. */
  #handOff(): void {
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('drain', this.#onDrain);
    socket.off('timeout', this.#onTimeout);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    socket.setTimeout(0);
    this.#open.delete(this);
    socket.pause();
    if (this.#buf.length > 0) socket.unshift(Buffer.from(this.#buf, 'latin1'));
    this.#buf = '';
    this.#opts.handOff(socket);
    // node:http attaches its reader now; the pushed-back bytes flow to it from the next tick.
    process.nextTick(() => socket.resume());
  }

  #serve(head: SimpleHead, body: string | null, limits: FastLaneLimits): void {
    const socket = this.#socket as Served;
    const served = (socket[kServed] ?? 0) + 1;
    socket[kServed] = served;
    const keepAlive = !head.close && !(limits.maxRequests > 0 && served >= limits.maxRequests) && !this.#opts.draining();
    const conn = this.#opts.connInfo(socket);
    const processor = this.#opts.processor();
    const req = new Request({
      method: head.method,
      scheme: conn.tls === null ? 'http' : 'https',
      authority: head.host,
      target: head.target,
      protocol: 'h1',
      headers: new HeaderMap(head.raw),
      body: new RequestBody(body === null ? null : bodySource(body), head.length, this.#opts.bodyLimit()),
      conn,
    });
    this.#keepAlive = keepAlive;
    // Pending: later requests wait in the buffer until the answer is out (then #answer pumps).
    if (runProcessor(processor, req, this, limits, LaneConnection.#answer, LaneConnection.#failed)) this.#busy = true;
  }

  /** `#busy` tells an answer that came later (the pump must go on) from one given at once (the pump is running). */
  static #answer(self: LaneConnection, limits: FastLaneLimits, req: Request, res: Response, processor: RequestProcessor): void {
    const later = self.#busy;
    self.#busy = false;
    self.#respond(req, res, processor, self.#keepAlive, limits);
    if (later) self.#pump();
  }

  static #failed(self: LaneConnection, _limits: FastLaneLimits, req: Request, err: Error, processor: RequestProcessor): void {
    const later = self.#busy;
    self.#busy = false;
    self.#fail(req, processor, err);
    if (later) self.#pump();
  }

  #fail(req: Request, processor: RequestProcessor, error: Error): void {
    if (!this.#socket.destroyed) {
      this.#write('HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      this.#close();
    }
    processor.completed(req, null, { status: 500, bytes: 0, error });
  }

  #respond(req: Request, res: Response, processor: RequestProcessor, keepAliveWanted: boolean, limits: FastLaneLimits): void {
    const socket = this.#socket;
    const status = res.status;
    const body = res.body;
    if (socket.destroyed) {
      discardBody(body);
      processor.completed(req, res, { status, bytes: 0, error: new Error('client closed the connection') });
      return;
    }
    if (!(status >= 100 && status <= 999) || !Number.isInteger(status)) {
      // node:http throws on such a status; here the handler's mistake becomes a 500, logged.
      discardBody(body);
      this.#fail(req, processor, new Error(`invalid status code ${String(status)} from the handler`));
      return;
    }
    const headers = res.headers;
    // After a 413 the client may still be sending what we refused: close, as adapter.ts does.
    const keepAlive = headKeepsAlive(headers, keepAliveWanted && status !== 413);
    const noBody = req.method === 'HEAD' || statusHasNoBody(status);
    const length = bodyLength(body);
    let framing: Framing;
    if (length !== null) framing = !statusHasNoBody(status) && headers['content-length'] === undefined ? { length } : 'none';
    else framing = noBody || headers['content-length'] !== undefined ? 'none' : 'chunked';
    const trailers = framing === 'chunked' && res.trailers !== null ? Object.keys(res.trailers).join(', ') : null;
    let head: ResponseHead;
    try {
      head = responseHead({ status, headers, extra: this.#opts.extraHeaders, host: req.host, framing, trailers, keepAlive, idleSeconds: Math.floor(limits.idleTimeout / 1000) });
    } catch (err) {
      if (!(err instanceof InvalidHeaderError)) throw err;
      discardBody(body);
      this.#fail(req, processor, err);
      return;
    }

    if (length !== null && (noBody || length === 0 || body === null)) {
      this.#write(head.text);
      processor.completed(req, res, { status, bytes: 0 });
      discardBody(body);
    } else if (typeof body === 'string') {
      // One write: node:http also sends a string body in the head's write.
      if (head.ascii) this.#writeText(head.text + body);
      else {
        socket.cork();
        this.#write(head.text);
        this.#writeText(body);
        socket.uncork();
      }
      processor.completed(req, res, { status, bytes: length as number });
    } else if (body instanceof Uint8Array) {
      this.#writeBytes(head.text, body);
      processor.completed(req, res, { status, bytes: length as number });
    } else {
      this.#stream(req, res, head.text, noBody, framing === 'chunked', processor, keepAlive);
      return;
    }
    if (!keepAlive) this.#close();
  }

  /** Files and streams: written as they are read, with backpressure; logged when the last byte is handed over. */
  #stream(req: Request, res: Response, head: string, noBody: boolean, chunked: boolean, processor: RequestProcessor, keepAlive: boolean): void {
    if (noBody) {
      this.#write(head);
      discardBody(res.body);
      processor.completed(req, res, { status: res.status, bytes: 0 });
      if (!keepAlive) this.#close();
      return;
    }
    const socket = this.#socket;
    // The head waits for the first chunk: one write (writev) for both, as node:http does.
    socket.cork();
    this.#write(head);
    let corked = true;
    const uncork = (): void => {
      if (corked) {
        corked = false;
        socket.uncork();
      }
    };
    const source = bodyStream(res.body);
    const report = streamReport(processor, req, res);
    this.#busy = true;
    this.#streaming = source;
    const finish = (error?: Error): void => {
      if (this.#streaming !== source) return;
      this.#streaming = null;
      this.#onStreamClose = null;
      this.#busy = false;
      report.done(error);
    };
    this.#onStreamClose = () => {
      source.destroy();
      finish(new Error('client closed the connection'));
    };
    source.on('data', (chunk: Buffer | string) => {
      const bytes = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      if (bytes === 0) return;
      report.add(bytes);
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(bytes.toString(16) + '\r\n', 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else ok = socket.write(chunk);
      uncork();
      if (!ok || this.#blocked) source.pause();
    });
    source.once('end', () => {
      if (chunked) this.#write(chunkedEnd(res.trailers));
      uncork();
      finish();
      if (!keepAlive) this.#close();
      else this.#pump();
    });
    source.once('error', (err: Error) => {
      uncork();
      // The framing promised more bytes than will come: the connection cannot be reused.
      socket.destroy();
      finish(err);
    });
  }

  #write(data: string): void {
    if (!this.#socket.write(data, 'latin1')) this.#blocked = true;
  }

  #writeText(data: string): void {
    if (!this.#socket.write(data, 'utf8')) this.#blocked = true;
  }

  #writeBytes(head: string, body: Uint8Array): void {
    const socket = this.#socket;
    if (body.byteLength <= COPY_BODY_BYTES) {
      const out = Buffer.allocUnsafe(head.length + body.byteLength);
      out.write(head, 0, 'latin1');
      out.set(body, head.length);
      if (!socket.write(out)) this.#blocked = true;
      return;
    }
    socket.cork();
    socket.write(head, 'latin1');
    if (!socket.write(body)) this.#blocked = true;
    socket.uncork();
  }

  #close(): void {
    this.#closing = true;
    this.#buf = '';
    this.#socket.end();
  }
}

/** A body that arrived whole, as the stream RequestBody reads. */
function bodySource(latin1: string): Readable {
  const source = new Readable({ read() {} });
  source.push(Buffer.from(latin1, 'latin1'));
  source.push(null);
  return source;
}
