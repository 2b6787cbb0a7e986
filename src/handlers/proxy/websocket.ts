import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { PassThrough, type Readable } from 'node:stream';
import type { Request } from '../../core/request.js';
import { Response } from '../../core/response.js';
import type { UpstreamTarget } from '../../upstream/target.js';
import { balanceRequest, gatewayError, upstreamPath, type ForwardOptions } from './forward.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.js';

function connect(target: UpstreamTarget, timeout: number): Promise<Socket> {
  const url = target.url;
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'], ...target.tlsConnect })
      : net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeout);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The upstream's answer head, read before anything is handed to the client. */
interface AnswerHead {
  readonly status: number;
  /** The head's bytes exactly as received, through the blank line. */
  readonly raw: Buffer;
  readonly headers: Record<string, string | string[]>;
  /** Bytes that came after the head in the same reads. */
  readonly rest: Buffer;
}

const MAX_HEAD = 64 * 1024;

/** Reads the answer head from `socket` (at most 64 KiB, within `timeout` ms). */
function readHead(socket: Socket, timeout: number): Promise<AnswerHead> {
  return new Promise((resolve, reject) => {
    let seen: Buffer = Buffer.alloc(0);
    const done = (err: Error | null, head?: AnswerHead): void => {
      clearTimeout(timer);
      socket.off('data', onData).off('error', onError).off('end', onEnd);
      if (err !== null) reject(err);
      else resolve(head as AnswerHead);
    };
    const timer = setTimeout(() => done(Object.assign(new Error('no answer head in time'), { code: 'UND_ERR_HEADERS_TIMEOUT' })), timeout);
    const onError = (err: Error): void => done(err);
    const onEnd = (): void => done(Object.assign(new Error('upstream closed before answering'), { code: 'UND_ERR_SOCKET' }));
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const end = seen.indexOf('\r\n\r\n');
      if (end === -1) {
        if (seen.length > MAX_HEAD) done(Object.assign(new Error('answer head too large'), { code: 'UND_ERR_HEADERS_OVERFLOW' }));
        return;
      }
      socket.pause();
      const raw = seen.subarray(0, end + 4);
      const lines = raw.toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? NaN);
      if (!Number.isInteger(status)) {
        done(Object.assign(new Error('malformed answer from the upstream'), { code: 'UND_ERR_SOCKET' }));
        return;
      }
      const headers: Record<string, string | string[]> = {};
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        const prev = headers[name];
        headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
      }
      done(null, { status, raw, headers, rest: seen.subarray(end + 4) });
    };
    socket.on('data', onData).on('error', onError).on('end', onEnd);
  });
}

/** A refusal's body (the upstream stays keep-alive, so its length decides where it ends). */
function refusalBody(upstream: Socket, head: AnswerHead): Readable {
  const declared = Number(head.headers['content-length'] ?? NaN);
  const body = new PassThrough();
  let left = Number.isFinite(declared) ? declared : Infinity;
  const push = (chunk: Buffer): void => {
    const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
    left -= part.length;
    if (part.length > 0) body.write(part);
    if (left === 0) {
      upstream.off('data', push);
      upstream.destroy();
      body.end();
    }
  };
  upstream.on('data', push);
  upstream.once('end', () => body.end());
  upstream.once('error', (err) => body.destroy(err));
  body.once('close', () => upstream.destroy());
  push(head.rest);
  if (left > 0) upstream.resume();
  return body;
}

/**
 * WebSocket pass-through: connect to a target, send the request head with forwarding headers and
 * read the answer head. A 101 hands the client's connection over: the head goes to the client as
 * received and the two connections are spliced. Any other answer is returned as a normal response
 * (the protocol layer closes the connection after it), so a client can never use a refused
 * upgrade as a raw tunnel to the upstream. Targets that cannot be reached give way to the next;
 * when none can, the client gets a 502/504 before anything was taken over.
 */
export async function proxyUpgrade(req: Request, opts: ForwardOptions): Promise<Response> {
  const upgrade = req.upgrade;
  if (upgrade === null) throw new Error('proxyUpgrade needs an upgrade request');
  const group = opts.group;
  const breq = balanceRequest(req);
  const path = upstreamPath(req.target, opts.stripPrefix);
  let tried: Set<UpstreamTarget> | null = null;
  let lastError: NodeJS.ErrnoException | null = null;
  for (let attempt = 0; attempt < group.retry.attempts; attempt++) {
    const target = group.select(breq, tried);
    if (target === null) break;
    let upstream: Socket;
    try {
      upstream = await connect(target, group.timeouts.connect);
    } catch (err) {
      lastError = err as NodeJS.ErrnoException;
      group.failed(target, lastError.code ?? lastError.message);
      (tried ??= new Set()).add(target);
      continue;
    }
    const headers = upstreamRequestHeaders(req, opts.forwarding, true);
    if (opts.forwarding.hostFromTarget) headers[1] = target.url.host;
    let requestHead = `${req.method} ${target.basePath}${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) requestHead += `${headers[i]}: ${headers[i + 1]}\r\n`;
    requestHead += '\r\n';
    upstream.setNoDelay(true);
    upstream.write(requestHead);
    let head: AnswerHead;
    try {
      head = await readHead(upstream, group.timeouts.firstByte);
    } catch (err) {
      upstream.destroy();
      lastError = err as NodeJS.ErrnoException;
      group.failed(target, lastError.code ?? lastError.message);
      break; // the handshake reached the upstream: not retried
    }
    group.succeeded(target);
    if (head.status !== 101) {
      const answerHeaders = clientResponseHeaders(head.headers, opts.response);
      return new Response(head.status, refusalBody(upstream, head), answerHeaders);
    }
    const { socket: client, head: early } = upgrade.take();
    target.inFlight++;
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      target.inFlight--;
      client.destroy();
      upstream.destroy();
    };
    client.write(head.raw);
    if (head.rest.length > 0) client.write(head.rest);
    if (early.length > 0) upstream.write(early);
    upstream.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
    // pipe() gives backpressure both ways; a half-close from one side ends the other's writes.
    upstream.pipe(client);
    client.pipe(upstream);
    upstream.resume();
    return new Response(101);
  }
  if (lastError === null) return gatewayError(503, 'no upstream available');
  const code = lastError.code ?? 'UNKNOWN';
  const timeout = code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT';
  opts.logger.warn({ upstream: group.name, method: req.method, path: req.path, code, err: lastError.message }, timeout ? 'upstream timed out (upgrade)' : 'upstream request failed (upgrade)');
  return timeout ? gatewayError(504, 'upstream timed out') : gatewayError(502, 'upstream unreachable');
}
