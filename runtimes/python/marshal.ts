/**
 * The request crosses to the worker as one string (a "frame") plus the body bytes; the answer comes
 * back as (status, NUL-joined headers, body). Measured (Node 20, 12 headers, 3 query keys, 1 KiB body,
 * in-process pyodide): NUL-joined frame + Uint8Array body ≈15 µs per call, JSON in + dict out ≈21 µs,
 * JsProxy access 22–56 µs, toPy ≈26 µs. URLSearchParams turns %00 into NUL, so a frame whose values
 * contain NUL is sent as a JSON array instead (bindings/python/anomaly.py reads both).
 */
import { GuestError, type GuestRequest, type GuestResponse } from '../contract.js';

/** A section: its pair count ("*<n>" when a name repeats, so the guest takes its slow path only then), then the pairs. */
function pushMulti(parts: string[], map: ReadonlyMap<string, readonly string[]>): boolean {
  const at = parts.length;
  parts.push('');
  let n = 0;
  let nul = false;
  let repeats = false;
  for (const [k, vs] of map) {
    if (vs.length > 1) repeats = true;
    if (k.includes('\0')) nul = true;
    for (const v of vs) {
      parts.push(k, v);
      n++;
      if (v.includes('\0')) nul = true;
    }
  }
  parts[at] = repeats ? '*' + n : String(n);
  return nul;
}

function pushSingle(parts: string[], entries: Iterable<readonly [string, string]>): boolean {
  const at = parts.length;
  parts.push('');
  let n = 0;
  let nul = false;
  for (const [k, v] of entries) {
    parts.push(k, v);
    n++;
    if (k.includes('\0') || v.includes('\0')) nul = true;
  }
  parts[at] = String(n);
  return nul;
}

/** Headers as received (no map built): names lower-cased, pseudo-headers (":path") left out. */
function pushRaw(parts: string[], raw: readonly string[]): boolean {
  const at = parts.length;
  parts.push('');
  let n = 0;
  let nul = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = raw[i + 1];
    parts.push(name.toLowerCase(), value);
    n++;
    if (name.includes('\0') || value.includes('\0')) nul = true;
  }
  // Repeated names are found by the guest (dict(zip(...)) comes out shorter than the count).
  parts[at] = String(n);
  return nul;
}

export function encodeFrame(req: GuestRequest): string {
  const parts = [req.method, req.path, req.rawQuery, req.protocol, req.scheme, req.host, req.remoteAddress];
  const raw = req.rawHeaders;
  let nul = raw !== undefined ? pushRaw(parts, raw) : pushMulti(parts, req.headers);
  nul = pushMulti(parts, req.query) || nul;
  nul = pushSingle(parts, req.cookies) || nul;
  nul = pushSingle(parts, Object.entries(req.params)) || nul;
  for (let i = 0; i < 7 && !nul; i++) if (parts[i].includes('\0')) nul = true;
  return nul ? JSON.stringify(parts) : parts.join('\0');
}

/** The body for a call in this thread: a plain Uint8Array view (pyodide rejects Buffers), no copy; undefined (None) when empty. */
export function bodyForCall(body: Uint8Array): Uint8Array | undefined {
  if (body.length === 0) return undefined;
  return body.constructor === Uint8Array ? body : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/** The body for a worker: a fresh, plain Uint8Array (pyodide rejects Buffers; a view would clone its whole backing store). */
export function bodyForWorker(body: Uint8Array): Uint8Array | null {
  if (body.length === 0) return null;
  const copy = new Uint8Array(body.length);
  copy.set(body);
  return copy;
}

export function decodeHeaders(flat: string): Array<[string, string]> {
  if (flat === '') return [];
  const parts = flat.split('\0');
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < parts.length; i += 2) out.push([parts[i], parts[i + 1]]);
  return out;
}

/** Code points of a string (its length, minus one per surrogate pair). */
function codePoints(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/**
 * The guest's answer string (runtimes/python/host.py _finish): "<s|n><status>\0<n>\0<len>\0<name>\0<value>...\0<body>",
 * len the body's length in code points. A NUL inside a header name or value shifts the fields, and the
 * body then comes out longer than len: the answer is refused (no scan of the headers on the guest's side).
 */
export function decodeAnswer(s: string, file: string | null = null): GuestResponse {
  let p = s.indexOf('\0');
  const status = Number(s.slice(1, p));
  let q = s.indexOf('\0', p + 1);
  const n = Number(s.slice(p + 1, q));
  p = s.indexOf('\0', q + 1);
  const length = Number(s.slice(q + 1, p));
  q = p;
  const headers: Array<[string, string]> = new Array(n);
  for (let i = 0; i < n; i++) {
    p = s.indexOf('\0', q + 1);
    const name = s.slice(q + 1, p);
    q = s.indexOf('\0', p + 1);
    headers[i] = [name, s.slice(p + 1, q)];
  }
  const body = s.slice(q + 1);
  if (p === -1 || q === -1 || (body.length !== length && codePoints(body) !== length)) {
    throw new GuestError('response', 'header names and values must not contain NUL', { file });
  }
  return { status, headers, body: s.charCodeAt(0) === 0x73 /* s */ ? body : null };
}
