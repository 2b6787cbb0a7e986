import { PassThrough, Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Logger } from '../../core/logger.js';
import type { Request } from '../../core/request.js';
import { Response } from '../../core/response.js';
import { statusText } from '../../core/errors.js';
import type { BalanceRequest } from '../../balance/policy.js';
import type { UpstreamGroup } from '../../upstream/group.js';
import { exchange, type UpstreamAnswer } from '../../upstream/exchange.js';
import type { UpstreamTarget } from '../../upstream/target.js';
import { applyResponseRules, upstreamRequestHeaders, type ForwardingOptions, type ResponseRules } from './headers.js';

/** Methods that may be sent twice (RFC 9110 §9.2.2); only these are retried after a request went out. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Errors where the request never reached the upstream: any method may go to another target. */
const CONNECT_ERRORS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** Bodies up to this size (with a Content-Length) are buffered, so retries can resend them. */
const REPLAYABLE_BODY = 64 * 1024;
/** Answers up to this size (with a Content-Length) are read whole before the client gets them. */
const BUFFERED_ANSWER = 64 * 1024;
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

export interface ForwardOptions {
  readonly group: UpstreamGroup;
  readonly forwarding: ForwardingOptions;
  readonly response: ResponseRules;
  /** Prefix removed from the path before it goes upstream ("" for none). */
  readonly stripPrefix: string;
  readonly logger: Logger;
}

/** The path (and query) sent upstream: strip_prefix removed, the target's base path added later. */
export function upstreamPath(target: string, strip: string): string {
  if (strip === '' || !target.startsWith(strip)) return target;
  const rest = target.slice(strip.length);
  if (rest === '') return '/';
  const c = rest.charCodeAt(0);
  if (c === 47 /* / */) return rest;
  if (c === 63 /* ? */) return '/' + rest;
  return target; // "/apix" does not start with the prefix "/api" as a path segment
}

class BodyTooLarge extends Error {
  readonly limit: number;
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/**
 * undici destroys a request body stream when it is done with it; for an HTTP/2 stream that would
 * reset the very stream the answer must go out on. It gets a pass-through instead (pipe() keeps
 * the backpressure); a failed upload still aborts the client's stream.
 */
function detached(source: Readable | null, limit: number): Readable | null {
  if (source === null) return null;
  return detachedFrom(source, limit);
}

function detachedFrom(source: Readable, limit: number): Readable {
  let seen = 0;
  // The site's max_body holds for streamed uploads too (a declared length over it never gets here).
  const through = new Transform({
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > limit) callback(new BodyTooLarge(limit));
      else callback(null, chunk);
    },
  });
  source.once('error', (err) => through.destroy(err));
  through.once('close', () => {
    if (!source.readableEnded) source.unpipe(through);
  });
  return source.pipe(through);
}

/**
 * A chunked upload: its first REPLAYABLE_BODY bytes are read before the upstream is contacted, so
 * a small body goes out whole (and can be retried), and a malformed chunk in it is refused before
 * anything reaches the upstream. A longer body streams on from there.
 */
async function chunkedBody(source: Readable | null, limit: number): Promise<Buffer | Readable | null> {
  if (source === null) return null;
  const head: Buffer[] = [];
  let size = 0;
  const ended = await new Promise<boolean>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      head.push(chunk);
      size += chunk.length;
      if (size > REPLAYABLE_BODY) {
        cleanup();
        source.pause();
        resolve(false);
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(true);
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
    };
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
  });
  if (size > limit) throw new BodyTooLarge(limit);
  if (ended) return Buffer.concat(head, size);
  const rest = new PassThrough({ highWaterMark: 64 * 1024 });
  for (const chunk of head) rest.write(chunk);
  source.once('error', (err) => rest.destroy(err));
  source.pipe(rest);
  source.resume();
  return detachedFrom(rest, limit); // counts the buffered head again as it passes: the limit holds
}

/** What a balancing policy may look at; a view over the request (no closures made per request). */
class BalanceView implements BalanceRequest {
  readonly #req: Request;
  constructor(req: Request) {
    this.#req = req;
  }
  get clientIp(): string {
    return this.#req.conn.remoteAddress;
  }
  get uri(): string {
    return this.#req.target;
  }
  header(name: string): string | undefined {
    return this.#req.headers.get(name);
  }
  cookie(name: string): string | undefined {
    return this.#req.cookies.get(name);
  }
}

export function balanceRequest(req: Request): BalanceRequest {
  return new BalanceView(req);
}

function errorCode(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return e.code ?? e.cause?.code ?? 'UNKNOWN';
}

/** A short plain-text error answer (never upstream internals). */
export function gatewayError(status: number, detail: string): Response {
  return Response.text(`${status} ${statusText(status)}: ${detail}\n`, status, { 'cache-control': 'no-store' });
}

/**
 * Sends `req` to a target of the group and streams the answer back. Connect failures (any method
 * without a body) and other failures or retryable statuses of idempotent requests move on to the
 * next usable target, up to retry.attempts tries. Failures count towards passive ejection.
 */
export function forward(req: Request, opts: ForwardOptions): Promise<Response> {
  if (!req.body.present) return new Promise((resolve, reject) => new Forwarding(req, opts, null, resolve, reject).next());
  return forwardBody(req, opts);
}

async function forwardBody(req: Request, opts: ForwardOptions): Promise<Response> {
  // Small bodies of known length are buffered so that a retry can send them again; larger or
  // chunked ones stream (with backpressure) and are never retried once undici has taken them.
  let body: Readable | Buffer | null;
  if (req.body.length !== null && req.body.length <= REPLAYABLE_BODY) body = await req.body.bytes();
  else if (req.body.length === null) body = await chunkedBody(req.body.stream(), req.body.limit);
  else body = detached(req.body.stream(), req.body.limit);
  return new Promise((resolve, reject) => new Forwarding(req, opts, body, resolve, reject).next());
}

/**
 * The attempts of one proxied request, driven by callbacks rather than an async loop: an answer
 * from our HTTP/1.1 client goes straight to the client's promise, with no await in between.
 */
class Forwarding {
  readonly #req: Request;
  readonly #opts: ForwardOptions;
  readonly #body: Readable | Buffer | null;
  readonly #resolve: (res: Response) => void;
  readonly #reject: (err: unknown) => void;
  readonly #replayable: boolean;
  readonly #idempotent: boolean;
  readonly #headers: string[];
  readonly #path: string;
  readonly #balance: BalanceRequest;
  #attempt = 0;
  #tried: Set<UpstreamTarget> | null = null;
  #lastError: unknown = null;
  #target: UpstreamTarget | null = null;

  constructor(req: Request, opts: ForwardOptions, body: Readable | Buffer | null, resolve: (res: Response) => void, reject: (err: unknown) => void) {
    this.#req = req;
    this.#opts = opts;
    this.#body = body;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#replayable = body === null || Buffer.isBuffer(body);
    this.#idempotent = IDEMPOTENT.has(req.method) && this.#replayable;
    this.#headers = upstreamRequestHeaders(req, opts.forwarding, false);
    this.#path = upstreamPath(req.target, opts.stripPrefix);
    this.#balance = balanceRequest(req);
  }

  /** The next attempt, or the final error answer when no target is left. */
  next(): void {
    const group = this.#opts.group;
    const target = this.#attempt < group.retry.attempts ? group.select(this.#balance, this.#tried) : null;
    if (target === null) return this.#resolve(this.#failure());
    this.#attempt++;
    this.#target = target;
    const headers = this.#headers;
    if (this.#opts.forwarding.hostFromTarget) headers[1] = target.url.host;
    target.inFlight++;
    const body = this.#body;
    const method = this.#req.method;
    const path = target.basePath + this.#path;
    if (target.h1 !== null && (body === null || Buffer.isBuffer(body))) target.h1.exchange({ method, path, headers, body }, BUFFERED_ANSWER, this.#onDone);
    else exchange(target.pool, { method: method as Dispatcher.HttpMethod, path, headers, body }, BUFFERED_ANSWER).then(this.#onAnswer, this.#onError);
  }

  readonly #onDone = (err: Error | null, res: UpstreamAnswer | null): void => {
    if (err !== null) this.#onError(err);
    else this.#onAnswer(res as UpstreamAnswer);
  };

  // Both run inside the upstream socket's callbacks: a throw must reach the client's promise, not the socket.
  readonly #onError = (err: unknown): void => {
    try {
      const target = this.#target as UpstreamTarget;
      target.inFlight--;
      // The client's fault, not the upstream's: no failure counted, no retry.
      if (err instanceof BodyTooLarge) return this.#resolve(Response.text(`413 ${statusText(413)}: ${err.message}\n`, 413, { connection: 'close' }));
      const code = errorCode(err);
      this.#opts.group.failed(target, code);
      this.#lastError = err;
      // After a connect failure nothing was sent: any method may try elsewhere if its body can be sent again.
      if (!this.#idempotent && !(CONNECT_ERRORS.has(code) && this.#replayable)) return this.#resolve(this.#failure());
      (this.#tried ??= new Set()).add(target);
      this.next();
    } catch (e) {
      this.#reject(e);
    }
  };

  readonly #onAnswer = (res: UpstreamAnswer): void => {
    try {
      const target = this.#target as UpstreamTarget;
      const group = this.#opts.group;
      const answer = res.body;
      if (this.#idempotent && this.#attempt < group.retry.attempts && group.retry.statuses.has(res.status) && group.hasOther(target, this.#tried)) {
        target.inFlight--;
        group.failed(target, `status ${res.status}`);
        if (!Buffer.isBuffer(answer)) answer.destroy();
        (this.#tried ??= new Set()).add(target);
        return this.next();
      }
      group.succeeded(target);
      if (Buffer.isBuffer(answer)) target.inFlight--;
      else answer.once('close', () => target.inFlight--);
      this.#resolve(new Response(res.status, answer, applyResponseRules(res.headers, this.#opts.response)));
    } catch (e) {
      this.#reject(e);
    }
  };

  /** 503 when no target could be tried, else 502 or 504 for the last failure (logged). */
  #failure(): Response {
    const { group, logger } = this.#opts;
    const req = this.#req;
    const lastError = this.#lastError;
    if (lastError === null) {
      logger.warn({ upstream: group.name, method: req.method, path: req.path }, 'no upstream target available');
      return gatewayError(503, 'no upstream available');
    }
    const code = errorCode(lastError);
    const timeout = TIMEOUTS.has(code);
    logger.warn(
      { upstream: group.name, target: this.#target?.id, method: req.method, path: req.path, code, err: (lastError as Error).message },
      timeout ? 'upstream timed out' : 'upstream request failed',
    );
    return timeout ? gatewayError(504, 'upstream timed out') : gatewayError(502, 'upstream unreachable');
  }
}
