import { constants as h2c, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { RequestBody } from '../../core/body.js';
import { HeaderMap } from '../../core/headers.js';
import { runProcessor, type RequestProcessor } from '../../core/processor.js';
import { Request, type ConnectionInfo } from '../../core/request.js';
import { bodyLength, isFileBody, statusHasNoBody, type Response } from '../../core/response.js';
import { CONNECTION_SPECIFIC, extraValue, type ExtraHeaders } from '../headers-out.js';
import { bodyStream, discardBody, streamReport } from '../stream-report.js';

export interface Http2Options {
  readonly processor: () => RequestProcessor;
  readonly connInfo: (stream: ServerHttp2Stream) => ConnectionInfo;
  readonly bodyLimit: () => number;
  /** Header count and size (RFC 9113 §6.5.2 accounting: name + value + 32 per field) limits. */
  readonly headerLimits: () => { readonly maxHeaders: number; readonly maxHeaderSize: number; readonly maxUri: number };
  readonly extraHeaders: ExtraHeaders;
}

type StreamListener = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

const noop = (): void => {};

/** Handles node:http2 'stream' events (the core API, not the slower compat layer). */
export function createHttp2StreamListener(opts: Http2Options): StreamListener {
  const answer = (stream: ServerHttp2Stream, extra: ExtraHeaders, req: Request, res: Response, processor: RequestProcessor): void =>
    writeResponse(stream, req, res, processor, extra);
  return (stream, headers, _flags, rawHeaders) => {
    // An unhandled 'error' on a stream would crash the process; resets are routine.
    stream.on('error', noop);
    const processor = opts.processor();
    // nghttp2 only enforces our SETTINGS once the client has seen them; a first request may exceed them.
    const limits = opts.headerLimits();
    if (rawHeaders.length > limits.maxHeaders * 2 + 8 || headerListSize(rawHeaders) > limits.maxHeaderSize) {
      if (!stream.destroyed) stream.respond({ ':status': 431, 'content-type': 'text/plain; charset=utf-8' }, { endStream: false });
      stream.end('431 Request Header Fields Too Large\n');
      return;
    }
    const path = headers[':path'];
    if (typeof path === 'string' && path.length > limits.maxUri) {
      if (!stream.destroyed) stream.respond({ ':status': 414, 'content-type': 'text/plain; charset=utf-8' }, { endStream: false });
      stream.end('414 URI Too Long\n');
      return;
    }
    const lengthHeader = headers['content-length'];
    const length = stream.endAfterHeaders ? 0 : lengthHeader !== undefined ? Number(lengthHeader) : null;
    const scheme = headers[':scheme'] === 'http' ? 'http' : 'https';
    const req = new Request({
      method: (headers[':method'] as string | undefined) ?? 'GET',
      scheme,
      authority: (headers[':authority'] as string | undefined) ?? (headers.host as string | undefined) ?? '',
      target: (headers[':path'] as string | undefined) ?? '',
      protocol: 'h2',
      headers: new HeaderMap(rawHeaders),
      body: new RequestBody(length === 0 ? null : stream, length, opts.bodyLimit()),
      conn: opts.connInfo(stream),
    });
    runProcessor(processor, req, stream, opts.extraHeaders, answer, fail);
  };
}

function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (let i = 0; i < raw.length; i++) size += raw[i].length;
  return size + 16 * raw.length;
}

function fail(stream: ServerHttp2Stream, _extra: ExtraHeaders, req: Request, err: Error, processor: RequestProcessor): void {
  if (!stream.destroyed && !stream.headersSent) stream.respond({ ':status': 500 }, { endStream: true });
  processor.completed(req, null, { status: 500, bytes: 0, error: err });
}

function writeResponse(stream: ServerHttp2Stream, req: Request, res: Response, processor: RequestProcessor, extra: ExtraHeaders): void {
  const status = res.status;
  if (stream.destroyed || stream.closed) {
    processor.completed(req, res, { status, bytes: 0, error: new Error('stream closed by the client') });
    return;
  }
  const body = res.body;
  const out: OutgoingHttpHeaders = { ':status': status };
  const headers = res.headers;
  for (const name in headers) {
    if (!CONNECTION_SPECIFIC.has(name)) out[name] = headers[name];
  }
  for (let i = 0; i < extra.length; i++) {
    const value = extraValue(extra[i][1], req.host);
    if (value !== null) out[extra[i][0]] = value;
  }

  // Ask the client to stop uploading a body we will not read (RFC 9113 §8.1).
  if (req.body.present && !req.body.used && !stream.readableEnded) {
    stream.once('finish', () => {
      if (!stream.destroyed && !stream.readableEnded) stream.close(h2c.NGHTTP2_NO_ERROR);
    });
  }

  const noBody = req.method === 'HEAD' || statusHasNoBody(status);
  const length = bodyLength(body);
  const wantTrailers = res.trailers !== null && !noBody;
  try {
    if (length !== null && !statusHasNoBody(status) && out['content-length'] === undefined) out['content-length'] = length;
    if (noBody || length === 0) {
      stream.respond(out, { endStream: true });
      discardBody(body);
      processor.completed(req, res, { status, bytes: 0 });
      return;
    }
    if ((typeof body === 'string' || body instanceof Uint8Array) && !wantTrailers) {
      stream.respond(out);
      stream.end(body);
      processor.completed(req, res, { status, bytes: length ?? 0 });
      return;
    }
    if (isFileBody(body) && !wantTrailers) {
      // respondWithFile sends from the fd inside node, without a JS stream per chunk.
      stream.respondWithFile(body.path, out, {
        offset: body.start,
        length: body.end - body.start,
        onError: (err: Error) => {
          if (!stream.headersSent) stream.respond({ ':status': 500 }, { endStream: true });
          else stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
          processor.completed(req, res, { status: 500, bytes: 0, error: err });
        },
      });
      stream.once('close', () => processor.completed(req, res, { status, bytes: length ?? 0 }));
      return;
    }
    streamBody(stream, req, res, out, processor, wantTrailers);
  } catch (err) {
    // node refuses the head (e.g. a single-value field such as Date given twice): answer 500
    // rather than leave the client waiting for a stream that never starts.
    failStream(stream, body);
    processor.completed(req, res, { status: 500, bytes: 0, error: err as Error });
  }
}

function failStream(stream: ServerHttp2Stream, body: Response['body']): void {
  discardBody(body);
  if (stream.destroyed || stream.closed) return;
  try {
    if (!stream.headersSent) {
      stream.respond({ ':status': 500, 'content-type': 'text/plain; charset=utf-8' });
      stream.end('500 invalid response\n');
      return;
    }
  } catch {
    // fall through to a reset
  }
  stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
}

function streamBody(stream: ServerHttp2Stream, req: Request, res: Response, out: OutgoingHttpHeaders, processor: RequestProcessor, wantTrailers: boolean): void {
  const body = res.body;
  const report = streamReport(processor, req, res);
  if (wantTrailers) stream.once('wantTrailers', () => stream.sendTrailers(res.trailers ?? {}));
  stream.respond(out, wantTrailers ? { waitForTrailers: true } : {});
  if (typeof body === 'string' || body instanceof Uint8Array) {
    report.add(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    stream.end(body);
    stream.once('close', () => report.done());
    return;
  }
  // A file with trailers, or a stream: through a JS stream.
  const source = bodyStream(body);
  report.watch(source);
  source.once('error', (err) => {
    stream.close(h2c.NGHTTP2_INTERNAL_ERROR);
    report.done(err);
  });
  stream.once('close', () => {
    if (!source.readableEnded) source.destroy();
    report.done(stream.rstCode !== undefined && stream.rstCode !== h2c.NGHTTP2_NO_ERROR ? new Error(`stream reset (code ${stream.rstCode})`) : undefined);
  });
  source.pipe(stream);
}
