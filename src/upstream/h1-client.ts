/**
 * Our own HTTP/1.1 client for plain-HTTP upstreams: a keep-alive pool of raw sockets, the request
 * head written as one string, the answer read by response-parser.ts. It carries every request
 * whose body is absent or already buffered; streamed uploads and TLS upstreams stay on undici.
 * Why: per proxied request undici cost ≈25 µs of CPU here, most of it bookkeeping around its
 * parser; this path costs a few (bench/README.md, "Proxy").
 *
 * Failures carry undici's error codes (UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT,
 * UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET, or the socket's own ECONNREFUSED...), so retries,
 * passive health and the 502/504 choice treat both clients alike.
 */
import net, { type Socket } from 'node:net';
import { answerHeaders, UpstreamBody, type UpstreamAnswer } from './exchange.js';
import { ResponseParser, type ResponseEvents } from './response-parser.js';
import type { Timeouts } from './target.js';

export interface H1Exchange {
  readonly method: string;
  /** Path and query as sent upstream. */
  readonly path: string;
  /** Flat [name, value, ...]; framing fields are ours to write and are skipped. */
  readonly headers: readonly string[];
  readonly body: Buffer | null;
}

export interface H1PoolOptions {
  readonly host: string;
  readonly port: number;
  readonly timeouts: Timeouts;
  /** How long an idle connection is kept, ms. */
  readonly keepAlive: number;
}

/** Methods that may be sent again when a reused connection turns out to be closed (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
/** Methods whose empty body is announced with content-length: 0 (some servers insist). */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_TARGET = /[^\x21-\x7e\x80-\xff]/;
/** Bodies up to this size are copied behind the head into one write. */
const COPY_BODY_BYTES = 16 * 1024;
/**
 * How often deadlines are checked. One sweep per pool instead of a socket timer re-armed at every
 * phase of every exchange (connect, first byte, body, idle): timeouts fire up to this late.
 */
const SWEEP_MS = 100;
/** Where every upstream socket reads into (onread); the parser copies what it keeps. */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

function failure(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The request head as one latin1 string, or an Error when a field would split it. */
function requestHead(ex: H1Exchange): string | Error {
  if (BAD_TARGET.test(ex.path)) return failure('UND_ERR_INVALID_ARG', 'invalid request target');
  let head = `${ex.method} ${ex.path} HTTP/1.1\r\n`;
  const h = ex.headers;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const name = h[i];
    if (name.length === 14 && name.toLowerCase() === 'content-length') continue;
    const value = h[i + 1];
    if (BAD_VALUE.test(value)) return failure('UND_ERR_INVALID_ARG', `invalid value for header "${name}"`);
    head += `${name}: ${value}\r\n`;
  }
  if (ex.body !== null) head += 'content-length: ' + ex.body.length + '\r\n';
  else if (BODY_METHODS.has(ex.method)) head += 'content-length: 0\r\n';
  return head + '\r\n';
}

/** Called once per exchange: an error, or the answer (a whole Buffer body or a stream). */
export type ExchangeDone = (err: Error | null, answer: UpstreamAnswer | null) => void;

/** One request and its answer; settles once (a Buffer, a stream, or an error). */
class Pending {
  readonly ex: H1Exchange;
  readonly head: string;
  readonly bufferLimit: number;
  readonly done: ExchangeDone;
  settled = false;
  /** Sent again once already (a reused connection that was closed under it). */
  retried = false;

  constructor(ex: H1Exchange, head: string, bufferLimit: number, done: ExchangeDone) {
    this.ex = ex;
    this.head = head;
    this.bufferLimit = bufferLimit;
    this.done = done;
  }
}

export class Http1Pool {
  readonly #opts: H1PoolOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #busy = new Set<UpstreamConnection>();
  #closed = false;
  #sweeper: NodeJS.Timeout | null = null;

  constructor(opts: H1PoolOptions) {
    this.#opts = opts;
  }

  /** Sends the request; answers up to bufferLimit bytes of known length come back whole. */
  request(ex: H1Exchange, bufferLimit: number): Promise<UpstreamAnswer> {
    return new Promise((resolve, reject) => this.exchange(ex, bufferLimit, (err, answer) => (err !== null ? reject(err) : resolve(answer as UpstreamAnswer))));
  }

  /**
   * request() with a callback, for the proxy's hot path: one promise fewer per request. `done` may
   * be called before this returns (a closed pool, a field that would split the head).
   */
  exchange(ex: H1Exchange, bufferLimit: number, done: ExchangeDone): void {
    if (this.#closed) return done(failure('UND_ERR_CLOSED', 'the upstream pool is closed'), null);
    const head = requestHead(ex);
    if (head instanceof Error) return done(head, null);
    this.#send(new Pending(ex, head, bufferLimit, done), false);
  }

  #send(p: Pending, fresh: boolean): void {
    // Most recently used first: its socket is the least likely to have been closed by the upstream.
    const conn = (fresh ? undefined : this.#idle.pop()) ?? new UpstreamConnection(this.#opts, this);
    this.#busy.add(conn);
    conn.send(p);
    if (this.#sweeper === null) {
      this.#sweeper = setInterval(this.#sweep, SWEEP_MS);
      this.#sweeper.unref();
    }
  }

  readonly #sweep = (): void => {
    const now = performance.now();
    for (const conn of this.#busy) conn.check(now);
    for (const conn of [...this.#idle]) conn.check(now);
    if (this.#busy.size === 0 && this.#idle.length === 0 && this.#sweeper !== null) {
      clearInterval(this.#sweeper);
      this.#sweeper = null;
    }
  };

  /** Called by a connection when its answer is complete. */
  released(conn: UpstreamConnection, reusable: boolean): void {
    this.#busy.delete(conn);
    if (reusable && !this.#closed) {
      conn.idle();
      this.#idle.push(conn);
    } else conn.destroy();
  }

  /** Called by a connection that closed or failed, with the request it carried, if any. */
  lost(conn: UpstreamConnection, p: Pending | null, err: Error, retry: boolean): void {
    this.#busy.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    if (p === null || p.settled) return;
    if (retry && !p.retried && !this.#closed) {
      p.retried = true;
      this.#send(p, true);
      return;
    }
    p.settled = true;
    p.done(err, null);
  }

  /** Idle connections close now; answers in progress get `graceMs` to finish. */
  async close(graceMs: number): Promise<void> {
    this.#closed = true;
    for (const conn of this.#idle.splice(0)) conn.destroy();
    const deadline = Date.now() + graceMs;
    while (this.#busy.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    for (const conn of this.#busy) conn.destroy();
    this.#busy.clear();
  }
}

const enum Phase {
  Connecting,
  Waiting,
  Body,
  Idle,
}

class UpstreamConnection implements ResponseEvents {
  readonly #socket: Socket;
  readonly #opts: H1PoolOptions;
  readonly #pool: Http1Pool;
  readonly #parser: ResponseParser;
  #phase = Phase.Connecting;
  /** performance.now() past which the current phase has taken too long (checked by the pool's sweep). */
  #deadline: number;
  #pending: Pending | null = null;
  /** Answers completed on this connection: a failure before any byte of the next may be the keep-alive race. */
  #served = 0;
  #status = 0;
  #headers: Record<string, string | string[]> = {};
  #chunks: Buffer[] | null = null;
  #length = 0;
  #stream: UpstreamBody | null = null;
  #dead = false;
  #lost = false;

  constructor(opts: H1PoolOptions, pool: Http1Pool) {
    this.#opts = opts;
    this.#pool = pool;
    this.#parser = new ResponseParser(this);
    // onread: every read lands in one shared buffer and goes straight to the parser, without a
    // Buffer allocated per read or the stream's push/emit path (the parser keeps nothing of it).
    const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true, onread: { buffer: READ_BUFFER, callback: this.#onRead } });
    this.#socket = socket;
    this.#deadline = performance.now() + opts.timeouts.connect;
    socket.once('connect', () => {
      this.#phase = Phase.Waiting;
      this.#deadline = performance.now() + opts.timeouts.firstByte;
    });
    socket.on('error', (err) => this.#lose(err));
    socket.on('close', () => {
      // Nothing of the answer yet: no end to find, and the request may go again (the keep-alive race).
      if (!this.#dead && this.#parser.started) this.#parser.eof();
      this.#lose(failure('UND_ERR_SOCKET', 'the upstream closed the connection'));
    });
  }

  readonly #onRead = (bytes: number, buffer: Uint8Array): boolean => {
    this.#parser.feed(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
    return true;
  };

  send(p: Pending): void {
    this.#pending = p;
    this.#status = 0;
    this.#chunks = null;
    this.#length = 0;
    this.#stream = null;
    this.#parser.start(p.ex.method === 'HEAD');
    if (this.#phase !== Phase.Connecting) {
      this.#phase = Phase.Waiting;
      this.#deadline = performance.now() + this.#opts.timeouts.firstByte;
    }
    const body = p.ex.body;
    const socket = this.#socket;
    if (body === null) socket.write(p.head, 'latin1');
    else if (body.length <= COPY_BODY_BYTES) {
      const out = Buffer.allocUnsafe(p.head.length + body.length);
      out.write(p.head, 0, 'latin1');
      body.copy(out, p.head.length);
      socket.write(out);
    } else {
      socket.cork();
      socket.write(p.head, 'latin1');
      socket.write(body);
      socket.uncork();
    }
  }

  idle(): void {
    this.#phase = Phase.Idle;
    this.#pending = null;
    this.#deadline = performance.now() + this.#opts.keepAlive;
  }

  destroy(): void {
    this.#dead = true;
    this.#socket.destroy();
  }

  // --- parser events ---

  head(status: number, raw: string[]): void {
    const p = this.#pending;
    if (p === null) return;
    this.#phase = Phase.Body;
    this.#deadline = performance.now() + this.#opts.timeouts.idle;
    const { headers, length } = answerHeaders(raw);
    this.#status = status;
    this.#headers = headers;
    if (length >= 0 && length <= p.bufferLimit) {
      this.#chunks = [];
      return;
    }
    const socket = this.#socket;
    const stream = new UpstreamBody(
      () => socket.resume(),
      // The client went away before the body ended: this connection is mid-answer, not reusable.
      () => this.destroy(),
    );
    this.#stream = stream;
    p.settled = true;
    p.done(null, { status, headers, body: stream });
  }

  data(view: Buffer): void {
    // The body timeout is the longest pause between chunks; a paused (backpressured) body is not stalled.
    if (this.#stream !== null) this.#deadline = performance.now() + this.#opts.timeouts.idle;
    const chunk = Buffer.from(view); // the read buffer is reused by the next read
    if (this.#chunks !== null) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    } else if (this.#stream !== null && !this.#stream.push(chunk)) {
      this.#socket.pause();
    }
  }

  end(reusable: boolean): void {
    const p = this.#pending;
    this.#served++;
    if (p !== null && !p.settled) {
      const chunks = this.#chunks ?? [];
      p.settled = true;
      p.done(null, { status: this.#status, headers: this.#headers, body: chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#length) });
    }
    const stream = this.#stream;
    this.#stream = null;
    this.#pending = null;
    if (stream !== null) {
      stream.ended = true;
      stream.push(null);
    }
    this.#pool.released(this, reusable);
  }

  error(err: Error): void {
    this.#lose(err);
    this.destroy();
  }

  // --- failures ---

  /** Called by the pool's sweep. */
  check(now: number): void {
    if (now <= this.#deadline || this.#lost) return;
    // A body waiting for its reader is not the upstream's delay.
    if (this.#phase === Phase.Body && this.#socket.isPaused()) {
      this.#deadline = now + this.#opts.timeouts.idle;
      return;
    }
    this.#onTimeout();
  }

  #onTimeout(): void {
    const code =
      this.#phase === Phase.Connecting ? 'UND_ERR_CONNECT_TIMEOUT'
      : this.#phase === Phase.Waiting ? 'UND_ERR_HEADERS_TIMEOUT'
      : this.#phase === Phase.Body ? 'UND_ERR_BODY_TIMEOUT'
      : null;
    if (code === null) {
      this.destroy(); // idle past keep_alive
      return;
    }
    this.#lose(failure(code, code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timeout' : code === 'UND_ERR_HEADERS_TIMEOUT' ? 'no answer head in time' : 'the upstream body stalled'));
    this.destroy();
  }

  #lose(err: Error): void {
    if (this.#lost) return;
    this.#lost = true;
    const p = this.#pending;
    this.#pending = null;
    const wasDead = this.#dead;
    this.#dead = true;
    this.#phase = Phase.Idle;
    const stream = this.#stream;
    this.#stream = null;
    if (stream !== null && !stream.destroyed) {
      stream.ended = true; // nothing left to abort
      stream.destroy(err);
    }
    // A reused connection that fails before any byte of its answer was most likely closed by the
    // upstream as we wrote: an idempotent request goes again, once, on a fresh connection.
    const retry = this.#served > 0 && p !== null && !this.#parser.started && IDEMPOTENT.has(p.ex.method);
    if (!wasDead) this.#socket.destroy();
    this.#pool.lost(this, p, err, retry);
  }
}
