import type { Readable } from 'node:stream';

/** A byte range of a file on disk; `end` is exclusive. The protocol layer sends it the fastest way it knows. */
export interface FileBody {
  readonly kind: 'file';
  readonly path: string;
  readonly start: number;
  readonly end: number;
}

export type ResponseBody = null | string | Uint8Array | Readable | FileBody;

/** Response header fields, lower-case names; repeated fields (set-cookie) as arrays. */
export type ResponseHeaders = Record<string, string | string[]>;

/**
 * What a handler returns. The protocol layer adds content-length for string, bytes and file
 * bodies, and strips the body for HEAD, 1xx, 204 and 304 answers.
 */
export class Response {
  status: number;
  headers: ResponseHeaders;
  body: ResponseBody;
  /** Trailer fields sent after the body where the protocol has them (HTTP/2, HTTP/3, chunked HTTP/1.1). */
  trailers: ResponseHeaders | null = null;

  constructor(status = 200, body: ResponseBody = null, headers: ResponseHeaders = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }

  static text(text: string, status = 200, headers: ResponseHeaders = {}): Response {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return new Response(status, text, headers);
  }

  static html(html: string, status = 200, headers: ResponseHeaders = {}): Response {
    headers['content-type'] ??= 'text/html; charset=utf-8';
    return new Response(status, html, headers);
  }

  static json(value: unknown, status = 200, headers: ResponseHeaders = {}): Response {
    headers['content-type'] ??= 'application/json';
    return new Response(status, JSON.stringify(value), headers);
  }

  static bytes(bytes: Uint8Array, status = 200, headers: ResponseHeaders = {}): Response {
    headers['content-type'] ??= 'application/octet-stream';
    return new Response(status, bytes, headers);
  }

  static redirect(location: string, status = 302): Response {
    return new Response(status, null, { location });
  }

  static empty(status = 204, headers: ResponseHeaders = {}): Response {
    return new Response(status, null, headers);
  }

  /** Sets a header (lower-cased name), replacing any previous value. */
  set(name: string, value: string | string[]): this {
    this.#writableHeaders()[name.toLowerCase()] = value;
    return this;
  }

  /** Handlers may share frozen header objects (cached responses); changing one copies it first. */
  #writableHeaders(): ResponseHeaders {
    if (Object.isFrozen(this.headers)) this.headers = { ...this.headers };
    return this.headers;
  }

  /** Adds a value to a header, keeping earlier ones (for set-cookie, vary, ...). */
  append(name: string, value: string): this {
    const key = name.toLowerCase();
    const headers = this.#writableHeaders();
    const prev = headers[key];
    if (prev === undefined) headers[key] = value;
    else if (Array.isArray(prev)) headers[key] = [...prev, value];
    else headers[key] = [prev, value];
    return this;
  }
}

/** The number of bytes a body will take on the wire, when known before sending. */
export function bodyLength(body: ResponseBody): number | null {
  if (body === null) return 0;
  if (typeof body === 'string') return Buffer.byteLength(body);
  if (body instanceof Uint8Array) return body.byteLength;
  if ((body as FileBody).kind === 'file') return (body as FileBody).end - (body as FileBody).start;
  return null;
}

export function isFileBody(body: ResponseBody): body is FileBody {
  return body !== null && typeof body === 'object' && (body as FileBody).kind === 'file';
}

/** Statuses that never carry a body (RFC 9110 §6.4.1). */
export function statusHasNoBody(status: number): boolean {
  return status === 204 || status === 304 || (status >= 100 && status < 200);
}
