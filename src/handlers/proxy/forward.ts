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

export function balanceRequest(req: Request): BalanceRequest {
  return {
    clientIp: req.conn.remoteAddress,
    uri: req.target,
    header: (name) => req.headers.get(name),
    cookie: (name) => req.cookies.get(name),
  };
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
export async function forward(req: Request, opts: ForwardOptions): Promise<Response> {
  const group = opts.group;
  // Small bodies of known length are buffered so that a retry can send them again; larger or
  // chunked ones stream (with backpressure) and are never retried once undici has taken them.
  let body: Readable | Buffer | null = null;
  if (req.body.present) {
    if (req.body.length !== null && req.body.length <= REPLAYABLE_BODY) body = await req.body.bytes();
    else if (req.body.length === null) body = await chunkedBody(req.body.stream(), req.body.limit);
    else body = detached(req.body.stream(), req.body.limit);
  }
  const replayable = body === null || Buffer.isBuffer(body);
  const idempotent = IDEMPOTENT.has(req.method) && replayable;
  const headers = upstreamRequestHeaders(req, opts.forwarding, false);
  const path = upstreamPath(req.target, opts.stripPrefix);
  const breq = balanceRequest(req);
  const attempts = group.retry.attempts;
  let tried: Set<UpstreamTarget> | null = null;
  let lastError: unknown = null;
  let lastTarget: UpstreamTarget | null = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const target = group.select(breq, tried);
    if (target === null) break;
    lastTarget = target;
    if (opts.forwarding.hostFromTarget) headers[1] = target.url.host;
    target.inFlight++;
    let res: UpstreamAnswer;
    try {
      res =
        target.h1 !== null && (body === null || Buffer.isBuffer(body))
          ? await target.h1.request({ method: req.method, path: target.basePath + path, headers, body }, BUFFERED_ANSWER)
          : await exchange(target.pool, { method: req.method as Dispatcher.HttpMethod, path: target.basePath + path, headers, body }, BUFFERED_ANSWER);
    } catch (err) {
      target.inFlight--;
      // The client's fault, not the upstream's: no failure counted, no retry.
      if (err instanceof BodyTooLarge) return Response.text(`413 ${statusText(413)}: ${err.message}\n`, 413, { connection: 'close' });
      const code = errorCode(err);
      group.failed(target, code);
      lastError = err;
      // After a connect failure nothing was sent: any method may try elsewhere if its body can be sent again.
      if (!idempotent && !(CONNECT_ERRORS.has(code) && replayable)) break;
      (tried ??= new Set()).add(target);
      continue;
    }
    const answer = res.body;
    if (idempotent && attempt + 1 < attempts && group.retry.statuses.has(res.status) && group.hasOther(target, tried)) {
      target.inFlight--;
      group.failed(target, `status ${res.status}`);
      if (!Buffer.isBuffer(answer)) answer.destroy();
      (tried ??= new Set()).add(target);
      continue;
    }
    group.succeeded(target);
    if (Buffer.isBuffer(answer)) target.inFlight--;
    else answer.once('close', () => target.inFlight--);
    return new Response(res.status, answer, applyResponseRules(res.headers, opts.response));
  }
  if (lastError === null) {
    opts.logger.warn({ upstream: group.name, method: req.method, path: req.path }, 'no upstream target available');
    return gatewayError(503, 'no upstream available');
  }
  const code = errorCode(lastError);
  const timeout = TIMEOUTS.has(code);
  opts.logger.warn(
    { upstream: group.name, target: lastTarget?.id, method: req.method, path: req.path, code, err: (lastError as Error).message },
    timeout ? 'upstream timed out' : 'upstream request failed',
  );
  return timeout ? gatewayError(504, 'upstream timed out') : gatewayError(502, 'upstream unreachable');
}
