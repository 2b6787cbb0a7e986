/**
 * The wire format between host and guest (the other half is __host in bindings/js/anomaly.js).
 * Measured in bench/micro/quickjs-call.mjs: JSON.parse inside QuickJS cost ≈16 µs for a realistic
 * request head, so the head travels as one flat string the guest never parses as a whole:
 *
 *   method US path US rawQuery US protocol US scheme US host US remote US query US cookies US params US headers
 *
 * (US = \x1f). Multi-maps are `RS name GS value RS name GS value...` (RS = \x1e, GS = \x1d): the guest
 * finds a header with one native indexOf; params are flat the same way. A head whose text holds
 * NUL or one of these separators (which valid HTTP never produces) goes as a JSON array instead,
 * starting with '['. The body travels separately as an ArrayBuffer.
 *
 * Back: `status US count US headers US tag body`, headers `name GS value RS name GS value` (count
 * fields: a separator smuggled inside a value changes the count or the shape and is refused), tag
 * 't' (text follows), 'n' (no body) or 'b' (binary: fetch the ArrayBuffer); or a JSON array
 * `[status, [[name, value]...], body]` (status 0: body too large, body is its size), or '' (async).
 */
import { JSON_HEADERS, TEXT_HEADERS, type GuestRequest } from '../contract.js';
import { hasKeys } from '../marshal-util.js';

const US = '\x1f';
const RS = '\x1e';
const GS = '\x1d';
const UNSAFE = /[\0\x1d-\x1f]/;

function flatMulti(map: ReadonlyMap<string, readonly string[]>): string | null {
  let out = '';
  for (const [name, values] of map) {
    if (UNSAFE.test(name)) return null;
    for (const v of values) {
      if (UNSAFE.test(v)) return null;
      out += RS + name + GS + v;
    }
  }
  return out;
}

/** The raw [name, value, ...] list: lower-case names, pseudo-headers skipped; null if unsafe. */
function flatRaw(raw: readonly string[]): string | null {
  let out = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = raw[i + 1];
    if (UNSAFE.test(name) || UNSAFE.test(value)) return null;
    out += RS + name.toLowerCase() + GS + value;
  }
  return out;
}

function flatSingle(map: ReadonlyMap<string, string>): string | null {
  let out = '';
  for (const [name, v] of map) {
    if (UNSAFE.test(name) || UNSAFE.test(v)) return null;
    out += RS + name + GS + v;
  }
  return out;
}

function flatParams(params: Readonly<Record<string, string>>): string | null {
  let out = '';
  for (const name in params) {
    const v = params[name];
    if (UNSAFE.test(name) || UNSAFE.test(v)) return null;
    out += RS + name + GS + v;
  }
  return out;
}

export function encodeMeta(req: GuestRequest): string {
  const headers = req.rawHeaders !== undefined ? flatRaw(req.rawHeaders) : flatMulti(req.headers);
  const query = req.query.size === 0 ? '' : flatMulti(req.query);
  const cookies = req.cookies.size === 0 ? '' : flatSingle(req.cookies);
  const scalars = req.method + req.path + req.rawQuery + req.host + req.remoteAddress;
  if (headers === null || query === null || cookies === null || UNSAFE.test(scalars)) return encodeMetaJson(req);
  const params = hasKeys(req.params) ? flatParams(req.params) : '';
  if (params === null) return encodeMetaJson(req);
  return (
    req.method + US + req.path + US + req.rawQuery + US + req.protocol + US + req.scheme + US + req.host + US +
    req.remoteAddress + US + query + US + cookies + US + params + US + headers
  );
}

/** The fallback: [method, path, rawQuery, protocol, scheme, host, remote, queryPairs, cookiePairs, params, headerPairs]. */
export function encodeMetaJson(req: GuestRequest): string {
  return JSON.stringify([
    req.method,
    req.path,
    req.rawQuery,
    req.protocol,
    req.scheme,
    req.host,
    req.remoteAddress,
    Array.from(req.query),
    Array.from(req.cookies),
    req.params,
    Array.from(req.headers),
  ]);
}

export type Answer =
  | { kind: 'text'; status: number; headers: Array<[string, string]>; body: string }
  | { kind: 'empty'; status: number; headers: Array<[string, string]> }
  | { kind: 'binary'; status: number; headers: Array<[string, string]> }
  | { kind: 'too-large'; size: number };

/** A header field whose text held a separator: never valid HTTP, answered as an invalid response. */
export class SmuggledSeparator extends Error {}

// The heads of the binding's helper answers (STRING_HEAD and JSON_HEAD in bindings/js/anomaly.js).
const helperHead = (contentType: string): string => '200' + US + '1' + US + 'content-type' + GS + contentType + US + 't';
const TEXT_HEAD = helperHead(TEXT_HEADERS[0][1]);
const JSON_HEAD = helperHead(JSON_HEADERS[0][1]);

export function decodeAnswer(s: string): Answer {
  // A 200 from text()/json() or a returned string: nothing to split or check.
  if (s.startsWith(TEXT_HEAD)) return { kind: 'text', status: 200, headers: TEXT_HEADERS, body: s.slice(TEXT_HEAD.length) };
  if (s.startsWith(JSON_HEAD)) return { kind: 'text', status: 200, headers: JSON_HEADERS, body: s.slice(JSON_HEAD.length) };
  if (s.charCodeAt(0) === 0x5b /* [ */) return decodeAnswerJson(s);
  const a = s.indexOf(US);
  const c = a < 0 ? -1 : s.indexOf(US, a + 1);
  const b = c < 0 ? -1 : s.indexOf(US, c + 1);
  if (b < 0) throw new Error('malformed answer from the guest binding');
  const status = Number(s.slice(0, a));
  const count = Number(s.slice(a + 1, c));
  const headers: Array<[string, string]> = [];
  if (b > c + 1) {
    for (const h of s.slice(c + 1, b).split(RS)) {
      const i = h.indexOf(GS);
      if (i < 0 || h.indexOf(GS, i + 1) >= 0) throw new SmuggledSeparator('a response header holds a control character');
      headers.push([h.slice(0, i), h.slice(i + 1)]);
    }
  }
  if (headers.length !== count) throw new SmuggledSeparator('a response header holds a control character');
  const tag = s.charCodeAt(b + 1);
  if (tag === 0x74 /* t */) return { kind: 'text', status, headers, body: s.slice(b + 2) };
  if (tag === 0x62 /* b */) return { kind: 'binary', status, headers };
  return { kind: 'empty', status, headers };
}

function decodeAnswerJson(s: string): Answer {
  const head = JSON.parse(s) as unknown;
  if (!Array.isArray(head) || head.length !== 3 || typeof head[0] !== 'number') throw new Error('malformed answer from the guest binding');
  const [status, headers, body] = head as [number, Array<[string, string]> | null, unknown];
  if (status === 0) return { kind: 'too-large', size: Number(body) };
  if (typeof body === 'string') return { kind: 'text', status, headers: headers ?? [], body };
  if (body === 1) return { kind: 'binary', status, headers: headers ?? [] };
  return { kind: 'empty', status, headers: headers ?? [] };
}
