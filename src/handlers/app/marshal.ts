import type { Request } from '../../core/request.js';
import { Response, type ResponseHeaders } from '../../core/response.js';
import { GuestError, JSON_HEADERS, TEXT_HEADERS, type GuestRequest, type GuestResponse } from '../../../runtimes/contract.js';

const EMPTY_PARAMS: Readonly<Record<string, string>> = Object.freeze({});
// Requests without a query string (most) share one empty map.
const NO_QUERY: ReadonlyMap<string, readonly string[]> = new Map();

/**
 * The request as the guest sees it. query/headers become Maps only when an engine reads them
 * (most handlers touch two or three fields), and reuse the arrays the core maps already hold.
 */
class HostGuestRequest implements GuestRequest {
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly params: Readonly<Record<string, string>>;
  readonly protocol: 'h1' | 'h2' | 'h3';
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly remoteAddress: string;
  readonly body: Uint8Array;
  readonly #req: Request;
  #query: ReadonlyMap<string, readonly string[]> | undefined;
  #headers: ReadonlyMap<string, readonly string[]> | undefined;

  constructor(req: Request, path: string, body: Uint8Array) {
    this.#req = req;
    this.method = req.method;
    this.path = path;
    this.rawQuery = req.rawQuery;
    this.params = req.params ?? EMPTY_PARAMS;
    this.protocol = req.protocol;
    this.scheme = req.scheme;
    this.host = req.host;
    this.remoteAddress = req.conn.remoteAddress;
    this.body = body;
  }

  get query(): ReadonlyMap<string, readonly string[]> {
    if (this.#query !== undefined) return this.#query;
    if (this.rawQuery === '') return (this.#query = NO_QUERY);
    const q = this.#req.query;
    const map = new Map<string, readonly string[]>();
    for (const name of q.keys()) map.set(name, q.getAll(name));
    return (this.#query = map);
  }

  get headers(): ReadonlyMap<string, readonly string[]> {
    if (this.#headers !== undefined) return this.#headers;
    const h = this.#req.headers;
    const map = new Map<string, readonly string[]>();
    for (const name of h.keys()) map.set(name, h.getAll(name));
    return (this.#headers = map);
  }

  get cookies(): ReadonlyMap<string, string> {
    return this.#req.cookies;
  }

  get rawHeaders(): readonly string[] {
    return this.#req.headers.raw;
  }

  /** Plain data for logs and tests (getters are not own properties). */
  toJSON(): Record<string, unknown> {
    return {
      method: this.method, path: this.path, rawQuery: this.rawQuery, params: this.params, protocol: this.protocol,
      scheme: this.scheme, host: this.host, remoteAddress: this.remoteAddress, bodyLength: this.body.byteLength,
    };
  }
}

/**
 * The path an app routes on. Under a prefix route ("/api/*", "/t/:tenant/*rest") that is the part
 * after the prefix with a leading "/", so an app mounted anywhere sees "/users/1"; under any
 * other route it is the whole request path.
 */
export function guestPath(req: Request): string {
  const pattern = req.route;
  if (pattern === null) return req.path;
  const slash = pattern.lastIndexOf('/');
  if (pattern.charCodeAt(slash + 1) !== 42 /* * */) return req.path;
  const name = slash + 2 === pattern.length ? '*' : pattern.slice(slash + 2);
  const rest = req.params[name];
  return rest === undefined ? req.path : '/' + rest;
}

/** The GuestRequest for `req` with its body already read (see readGuestBody). */
export function toGuestRequest(req: Request, body: Uint8Array): GuestRequest {
  return new HostGuestRequest(req, guestPath(req), body);
}

/**
 * The whole body (bounded by the site's max_body: over it HttpError 413 propagates), or null when
 * the request has none: the caller then skips an await.
 */
export function readGuestBody(req: Request): Promise<Uint8Array> | null {
  return req.body.present ? req.body.bytes() : null;
}

export const EMPTY_BODY = new Uint8Array(0);

// Fields the protocol layer owns: framing (content-length is computed from the body) and
// connection-specific fields that HTTP/2 forbids.
const DROPPED = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'proxy-connection', 'upgrade', 'te']);
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// Field values may hold visible characters, spaces and tabs (RFC 9110 §5.5): no other control characters.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

// Answers whose only header is a helper's content-type (text(), json(), a returned string: most small
// handlers) share one frozen header object, checked once; a later change to a response copies it.
const SHARED_BY_TYPE = new Map<string, ResponseHeaders>(
  [TEXT_HEADERS, JSON_HEADERS].map((list) => [list[0][1], Object.freeze({ 'content-type': list[0][1] })]),
);

/** The guest's header list as response headers: lower-case names, repeats as lists, framing fields dropped. */
function responseHeaders(list: GuestResponse['headers']): ResponseHeaders {
  if (list.length === 1 && list[0][0] === 'content-type') {
    const shared = SHARED_BY_TYPE.get(list[0][1]);
    if (shared !== undefined) return shared;
  }
  const headers: ResponseHeaders = {};
  for (let i = 0; i < list.length; i++) {
    const name = String(list[i][0]).toLowerCase();
    const value = String(list[i][1]);
    if (!TOKEN.test(name)) throw new GuestError('response', `invalid header name ${JSON.stringify(name)}`);
    if (BAD_VALUE.test(value)) throw new GuestError('response', `invalid value for header "${name}"`);
    if (DROPPED.has(name)) continue;
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  return headers;
}

/** The guest's answer as a core Response; anything the wire could not carry is a GuestError('response'). */
export function toResponse(g: GuestResponse, maxResponseBytes: number): Response {
  const status = g.status;
  if (!Number.isInteger(status) || status < 200 || status > 599) throw new GuestError('response', `invalid status ${String(status)}`);
  const headers = responseHeaders(g.headers);
  let body = g.body;
  if (body === undefined) body = null;
  if (typeof body === 'string') {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: count exactly only when it may matter.
    if (body.length * 3 > maxResponseBytes && Buffer.byteLength(body) > maxResponseBytes) throw tooLarge(maxResponseBytes);
    if (headers['content-type'] === undefined) headers['content-type'] = 'text/plain; charset=utf-8'; // never a shared object: those have one
  } else if (body instanceof Uint8Array) {
    if (body.byteLength > maxResponseBytes) throw tooLarge(maxResponseBytes);
  } else if (body !== null) {
    throw new GuestError('response', `invalid body type ${typeof body}`);
  }
  return new Response(status, body, headers);
}

function tooLarge(max: number): GuestError {
  return new GuestError('response', `response body larger than max_response (${max} bytes)`);
}
