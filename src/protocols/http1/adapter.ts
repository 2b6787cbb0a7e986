import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestBody } from '../../core/body.js';
import { HeaderMap } from '../../core/headers.js';
import { runProcessor, type RequestProcessor } from '../../core/processor.js';
import { Request, type ConnectionInfo } from '../../core/request.js';
import { bodyLength, statusHasNoBody, type Response } from '../../core/response.js';
import { extraValue, type ExtraHeaders } from '../headers-out.js';
import { bodyStream, discardBody, streamReport } from '../stream-report.js';
import { checkHead, scanHead } from './head-rules.js';

export interface Http1Options {
  readonly processor: () => RequestProcessor;
  readonly connInfo: (req: IncomingMessage) => ConnectionInfo;
  /** True while the server drains: responses then close their connection. */
  readonly draining: () => boolean;
  /** Default body limit until the dispatcher picks the site's. */
  readonly bodyLimit: () => number;
  readonly maxHeaders: () => number;
  /** Longest request target (414 past it) and total size of the header fields (431 past it). */
  readonly maxUri: () => number;
  readonly maxHeaderSize: () => number;
  /** Requests per connection, then "connection: close" (0: no limit). */
  readonly maxRequests: () => number;
  readonly extraHeaders: ExtraHeaders;
}

/** Requests served on a socket, for limits.max_requests_per_connection (the fast lane counts here too). */
export const kServed = Symbol('anomaly.requestsServed');

/** Turns node:http's (req, res) into our Request, runs the processor and writes its Response. */
export function createHttp1RequestListener(opts: Http1Options): (req: IncomingMessage, res: ServerResponse) => void {
  const answer = (nreq: IncomingMessage, nres: ServerResponse, req: Request, res: Response, processor: RequestProcessor): void =>
    writeResponse(nreq, nres, req, res, processor, opts.extraHeaders);
  return (nreq, nres) => {
    const raw = nreq.rawHeaders;
    // One pass over the raw list for the fields the core needs eagerly.
    const scan = scanHead(raw);
    // What node's parser lets through but RFC 9112 forbids (each a way to disagree with a proxy
    // about where a request starts or which host it is for): answered 400, connection closed.
    const head = checkHead(nreq, scan);
    if (typeof head === 'string') {
      const refusal = head;
      nres.shouldKeepAlive = false;
      nres.writeHead(400, ['content-type', 'text/plain; charset=utf-8', 'connection', 'close']);
      nres.end(`${refusal}\n`);
      return;
    }
    const processor = opts.processor();
    // node's own limit covers the whole head (set to both of ours): each is told apart here.
    const tooBig =
      (nreq.url?.length ?? 0) > opts.maxUri() ? 414
      : raw.length / 2 > opts.maxHeaders() || scan.fieldBytes > opts.maxHeaderSize() ? 431 // node only truncates the list (maxHeadersCount)
      : 0;
    if (tooBig !== 0) {
      nres.shouldKeepAlive = false;
      nres.writeHead(tooBig, ['content-type', 'text/plain; charset=utf-8', 'connection', 'close']);
      nres.end(tooBig === 414 ? 'request target too long\n' : 'request header fields too large\n');
      return;
    }
    const conn = opts.connInfo(nreq);
    const req = new Request({
      method: nreq.method ?? 'GET',
      scheme: conn.tls === null ? 'http' : 'https',
      authority: head.authority,
      target: head.target,
      protocol: 'h1',
      headers: new HeaderMap(raw),
      body: new RequestBody(nreq, scan.length, opts.bodyLimit()),
      conn,
    });
    if (opts.draining()) nres.shouldKeepAlive = false;
    const maxRequests = opts.maxRequests();
    if (maxRequests > 0) {
      // node's maxRequestsPerSocket says "close" but keeps the socket open; counting here closes it.
      const socket = nreq.socket as typeof nreq.socket & { [kServed]?: number };
      const served = (socket[kServed] ?? 0) + 1;
      socket[kServed] = served;
      if (served >= maxRequests) nres.shouldKeepAlive = false;
    }
    runProcessor(processor, req, nreq, nres, answer, fail);
  };
}

/** The handler threw or rejected (it must not): answer rather than leave the client hanging. */
function fail(_nreq: IncomingMessage, nres: ServerResponse, req: Request, err: Error, processor: RequestProcessor): void {
  if (!nres.headersSent) {
    nres.statusCode = 500;
    nres.end();
  }
  processor.completed(req, null, { status: 500, bytes: 0, error: err });
}

function writeResponse(
  nreq: IncomingMessage,
  nres: ServerResponse,
  req: Request,
  res: Response,
  processor: RequestProcessor,
  extra: ExtraHeaders,
): void {
  if (nres.destroyed) {
    processor.completed(req, res, { status: res.status, bytes: 0, error: new Error('client closed the connection') });
    return;
  }
  const status = res.status;
  const body = res.body;
  const headers = res.headers;
  const flat: unknown[] = [];
  for (const name in headers) flat.push(name, headers[name]);
  for (let i = 0; i < extra.length; i++) {
    const value = extraValue(extra[i][1], req.host);
    if (value !== null) flat.push(extra[i][0], value);
  }

  // A request body nobody read: small ones node:http drains for keep-alive; big or unknown ones
  // would cost us their whole upload, so close instead (and always after 413).
  if (req.body.present && !nreq.complete && (!req.body.used || status === 413)) {
    if (status === 413 || req.body.length === null || req.body.length > 65536) {
      nres.shouldKeepAlive = false;
    }
  }

  const noBody = req.method === 'HEAD' || statusHasNoBody(status);
  const length = bodyLength(body);
  if (length !== null) {
    if (!statusHasNoBody(status) && headers['content-length'] === undefined) flat.push('content-length', length);
    if (noBody || length === 0 || body === null) {
      nres.writeHead(status, flat as string[]);
      nres.end(); // a known-length body is a string, bytes or a file range: nothing to release
      processor.completed(req, res, { status, bytes: 0 });
      return;
    }
    if (typeof body === 'string' || body instanceof Uint8Array) {
      nres.writeHead(status, flat as string[]);
      nres.end(body);
      processor.completed(req, res, { status, bytes: length });
      return;
    }
  }
  // Streams and files: stream with backpressure; log when the last byte is handed to the socket.
  if (res.trailers !== null && !noBody) flat.push('trailer', Object.keys(res.trailers).join(', '));
  nres.writeHead(status, flat as string[]);
  if (noBody) {
    nres.end();
    discardBody(body);
    processor.completed(req, res, { status, bytes: 0 });
    return;
  }
  const source = bodyStream(body);
  const report = streamReport(processor, req, res);
  report.watch(source);
  source.once('error', (err) => {
    nres.destroy(err);
    report.done(err);
  });
  source.once('end', () => {
    if (res.trailers !== null) nres.addTrailers(res.trailers);
  });
  nres.once('finish', () => report.done());
  nres.once('close', () => {
    if (!nres.writableFinished) {
      source.destroy();
      report.done(new Error('client closed the connection'));
    }
  });
  source.pipe(nres);
}

