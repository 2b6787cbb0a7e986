import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RequestBody } from '../../core/body.js';
import { statusText } from '../../core/errors.js';
import { HeaderMap } from '../../core/headers.js';
import type { RequestProcessor } from '../../core/processor.js';
import { Request, type ConnectionInfo } from '../../core/request.js';
import { bodyLength, statusHasNoBody, type Response } from '../../core/response.js';
import type { ConnectionUpgrade } from '../../core/upgrade.js';
import { extraValue, type ExtraHeaders } from '../headers-out.js';
import { bodyStream, discardBody } from '../stream-report.js';
import { checkHead, scanHead } from './head-rules.js';

export interface Http1UpgradeOptions {
  readonly processor: () => RequestProcessor;
  readonly connInfo: (req: IncomingMessage) => ConnectionInfo;
  readonly extraHeaders: ExtraHeaders;
  /** Hands a socket back to the HTTP/1.1 server as if newly connected (its bytes unshifted first). */
  readonly reparse: (socket: Duplex) => void;
}

/** Upgrades a handler may take over; any other (h2c) is served as the plain HTTP/1.1 request it also is. */
const TAKEABLE = /\bwebsocket\b/i;

/**
 * Gives an upgrade request nobody will take back to node's parser: the head is rebuilt without
 * Upgrade (and without the Connection tokens naming it), unshifted with the bytes read past it,
 * and the socket re-enters the server. The client gets an ordinary HTTP/1.1 exchange (body read,
 * keep-alive kept), exactly as if no 'upgrade' listener existed.
 */
function reinject(nreq: IncomingMessage, socket: Duplex, head: Buffer, reparse: (socket: Duplex) => void): void {
  const raw = nreq.rawHeaders;
  let text = `${nreq.method} ${nreq.url} HTTP/${nreq.httpVersion}\r\n`;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name === 'upgrade') continue;
    if (name === 'connection') {
      const kept = raw[i + 1].split(',').map((t) => t.trim()).filter((t) => t !== '' && t.toLowerCase() !== 'upgrade');
      if (kept.length > 0) text += `${raw[i]}: ${kept.join(', ')}\r\n`;
      continue;
    }
    text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  text += '\r\n';
  const bytes = Buffer.from(text, 'latin1');
  socket.unshift(head.length > 0 ? Buffer.concat([bytes, head]) : bytes);
  reparse(socket);
  process.nextTick(() => socket.resume());
}

/**
 * node:http's 'upgrade' event: requests with an Upgrade header leave the HTTP parser. WebSocket
 * upgrades are dispatched like any request, with `req.upgrade` set: a handler that takes the
 * connection owns it; otherwise its answer is written here by hand and the connection closed,
 * since the parser is gone (a request body, which WebSocket handshakes do not have, is not read).
 * Other upgrades (h2c) go back to the parser as plain requests (see reinject).
 */
export function createHttp1UpgradeListener(opts: Http1UpgradeOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  return (nreq, socket, head) => {
    if (!TAKEABLE.test(String(nreq.headers.upgrade ?? ''))) {
      reinject(nreq, socket, head, opts.reparse);
      return;
    }
    socket.on('error', () => {});
    const raw = nreq.rawHeaders;
    const checked = checkHead(nreq, scanHead(raw));
    if (typeof checked === 'string') {
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(checked) + 1}\r\n\r\n${checked}\n`);
      return;
    }
    let taken = false;
    const upgrade: ConnectionUpgrade = {
      protocol: String(nreq.headers.upgrade ?? ''),
      get taken() {
        return taken;
      },
      take() {
        taken = true;
        return { socket, head };
      },
    };
    const conn = opts.connInfo(nreq);
    const req = new Request({
      method: nreq.method ?? 'GET',
      scheme: conn.tls === null ? 'http' : 'https',
      authority: checked.authority,
      target: checked.target,
      protocol: 'h1',
      headers: new HeaderMap(raw),
      body: new RequestBody(null, 0, 0),
      conn,
      upgrade,
    });
    const processor = opts.processor();
    const finish = (res: Response | null, err?: Error): void => {
      if (taken) {
        processor.completed(req, res, { status: res?.status ?? 101, bytes: 0 });
        return;
      }
      if (res === null) {
        socket.end('HTTP/1.1 500 Internal Server Error\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        processor.completed(req, null, { status: 500, bytes: 0, error: err });
        return;
      }
      writeRaw(socket, req, res, opts.extraHeaders);
      processor.completed(req, res, { status: res.status, bytes: 0 });
    };
    try {
      const result = processor.handle(req);
      if (result instanceof Promise) result.then((res) => finish(res), (err: Error) => finish(recovered(processor, req, err), err));
      else finish(result);
    } catch (err) {
      finish(null, err as Error);
    }
  };
}

/** The processor's answer for a rejected handler, or null (a 500) if even that failed. */
function recovered(processor: RequestProcessor, req: Request, err: unknown): Response | null {
  try {
    return processor.recover(req, err);
  } catch {
    return null;
  }
}

/** Writes a whole HTTP/1.1 answer on a socket the HTTP parser let go of, then closes it. */
function writeRaw(socket: Duplex, req: Request, res: Response, extra: ExtraHeaders): void {
  if (socket.destroyed) {
    discardBody(res.body);
    return;
  }
  const noBody = req.method === 'HEAD' || statusHasNoBody(res.status);
  const length = bodyLength(res.body);
  let head = `HTTP/1.1 ${res.status} ${statusText(res.status)}\r\n`;
  const line = (name: string, value: string | number): void => {
    // CR/LF in a value would split the header: the handler's values are not trusted that far.
    head += `${name}: ${String(value).replace(/[\r\n]/g, ' ')}\r\n`;
  };
  for (const name in res.headers) {
    if (name === 'connection' || name === 'transfer-encoding' || (name === 'content-length' && length !== null)) continue;
    const value = res.headers[name];
    if (Array.isArray(value)) for (const v of value) line(name, v);
    else line(name, value);
  }
  for (const [name, value] of extra) {
    const v = extraValue(value, req.host);
    if (v !== null) line(name, v);
  }
  if (length !== null && !statusHasNoBody(res.status)) line('content-length', length);
  line('date', new Date().toUTCString());
  line('connection', 'close');
  head += '\r\n';
  const body = res.body;
  if (noBody || body === null) {
    socket.end(head);
    discardBody(body);
    return;
  }
  if (typeof body === 'string' || body instanceof Uint8Array) {
    socket.write(head);
    socket.end(body);
    return;
  }
  // Stream or file, unknown length: the end of the body is the end of the connection.
  socket.write(head);
  const source = bodyStream(body);
  source.once('error', () => socket.destroy());
  source.pipe(socket);
}
