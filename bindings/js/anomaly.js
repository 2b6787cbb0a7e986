// The guest `anomaly` module: loaded *inside* QuickJS by runtimes/quickjs (import { App, Response } from 'anomaly').
// Plain ES2020, no host APIs: everything here runs in the sandbox. The host talks to it through
// `__host` only (see runtimes/quickjs/index.ts for the wire format); apps never need that export.

// ---------------------------------------------------------------------------------------------
// UTF-8 (QuickJS has no TextEncoder/TextDecoder)

const CHUNK = 8192;

/** Decodes UTF-8 bytes to a string; invalid sequences become U+FFFD. */
export function decodeUtf8(bytes) {
  const n = bytes.length;
  let i = 0;
  // ASCII fast path: most bodies are plain ASCII.
  while (i < n && bytes[i] < 0x80) i++;
  if (i === n) {
    if (n <= CHUNK) return String.fromCharCode.apply(null, bytes);
    let s = '';
    for (let k = 0; k < n; k += CHUNK) s += String.fromCharCode.apply(null, bytes.subarray(k, k + CHUNK));
    return s;
  }
  const parts = [];
  if (i > 0) parts.push(decodeUtf8(bytes.subarray(0, i)));
  let codes = [];
  while (i < n) {
    const b = bytes[i];
    let cp = 0xfffd;
    let len = 1;
    if (b < 0x80) cp = b;
    else if (b >= 0xc2 && b < 0xe0 && i + 1 < n && (bytes[i + 1] & 0xc0) === 0x80) {
      cp = ((b & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      len = 2;
    } else if (b >= 0xe0 && b < 0xf0 && i + 2 < n && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80) {
      const c = ((b & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      if (c >= 0x800 && (c < 0xd800 || c > 0xdfff)) {
        cp = c;
        len = 3;
      }
    } else if (b >= 0xf0 && b < 0xf5 && i + 3 < n && (bytes[i + 1] & 0xc0) === 0x80 && (bytes[i + 2] & 0xc0) === 0x80 && (bytes[i + 3] & 0xc0) === 0x80) {
      const c = ((b & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      if (c >= 0x10000 && c <= 0x10ffff) {
        cp = c;
        len = 4;
      }
    }
    if (cp > 0xffff) {
      cp -= 0x10000;
      codes.push(0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
    } else codes.push(cp);
    i += len;
    if (codes.length >= CHUNK) {
      parts.push(String.fromCharCode.apply(null, codes));
      codes = [];
    }
  }
  parts.push(String.fromCharCode.apply(null, codes));
  return parts.join('');
}

/** Encodes a string as UTF-8 bytes (lone surrogates become U+FFFD). */
export function encodeUtf8(str) {
  const out = new Uint8Array(str.length * 3);
  let o = 0;
  for (let i = 0; i < str.length; i++) {
    let c = str.charCodeAt(i);
    if (c < 0x80) {
      out[o++] = c;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < str.length ? str.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[o++] = 0xf0 | (c >> 18);
        out[o++] = 0x80 | ((c >> 12) & 0x3f);
        out[o++] = 0x80 | ((c >> 6) & 0x3f);
        out[o++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    if (c < 0x800) {
      out[o++] = 0xc0 | (c >> 6);
      out[o++] = 0x80 | (c & 0x3f);
    } else {
      out[o++] = 0xe0 | (c >> 12);
      out[o++] = 0x80 | ((c >> 6) & 0x3f);
      out[o++] = 0x80 | (c & 0x3f);
    }
  }
  return out.slice(0, o);
}

// Minimal TextEncoder/TextDecoder so common code runs unchanged (UTF-8 only).
if (typeof globalThis.TextEncoder === 'undefined') {
  globalThis.TextEncoder = class TextEncoder {
    get encoding() { return 'utf-8'; }
    encode(s = '') { return encodeUtf8(String(s)); }
  };
  globalThis.TextDecoder = class TextDecoder {
    get encoding() { return 'utf-8'; }
    decode(b) {
      if (b === undefined) return '';
      if (b instanceof ArrayBuffer) return decodeUtf8(new Uint8Array(b));
      return decodeUtf8(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    }
  };
}

// console: forwarded to the host's log sink (if any), one line per call.
{
  const sink = globalThis.__anomaly_log;
  delete globalThis.__anomaly_log;
  const fmt = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return v.stack ? `${v.name}: ${v.message}\n${v.stack}` : `${v.name}: ${v.message}`;
    try {
      const j = JSON.stringify(v);
      return j === undefined ? String(v) : j;
    } catch {
      return String(v);
    }
  };
  const log = (level) => (...args) => {
    if (typeof sink === 'function') sink(level, args.map(fmt).join(' '));
  };
  globalThis.console = { log: log('info'), info: log('info'), debug: log('debug'), warn: log('warn'), error: log('error') };
}

// ---------------------------------------------------------------------------------------------
// Request

function safeDecode(s) {
  if (s.indexOf('%') < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

const US = '\x1f';
const RS = '\x1e';
const GS = '\x1d';

/**
 * A read-only multi-map (query, headers, form): get(name) -> first value or null, all(name) -> list.
 * Built over the host's flat text (RS name GS value ...), searched with indexOf until something
 * needs the whole map, or over [[name, [values]]] pairs. The index is a null-prototype object of
 * name -> [values]: in QuickJS that is several times cheaper to build and read than a Map.
 */
export class MultiMap {
  /** @param src flat text or pairs; @param lower lower-case names on lookup (headers) */
  constructor(src, lower) {
    this._flat = typeof src === 'string' ? src : null;
    this._pairs = typeof src === 'string' ? null : src;
    this._lower = lower === true;
    this._index_ = null;
    this._size = 0;
  }
  _index() {
    let m = this._index_;
    if (m !== null) return m;
    m = Object.create(null);
    let size = 0;
    const flat = this._flat;
    if (flat !== null) {
      // RS name GS value RS name GS value ...: walk it with indexOf, no intermediate arrays.
      let i = flat.indexOf(RS);
      while (i >= 0) {
        const g = flat.indexOf(GS, i + 1);
        const next = flat.indexOf(RS, g + 1);
        const k = flat.slice(i + 1, g);
        const v = next < 0 ? flat.slice(g + 1) : flat.slice(g + 1, next);
        const prev = m[k];
        if (prev === undefined) {
          m[k] = [v];
          size++;
        } else prev.push(v);
        i = next;
      }
    } else {
      for (const [k, v] of this._pairs) {
        const prev = m[k];
        if (prev === undefined) {
          m[k] = v.slice();
          size++;
        } else m[k] = prev.concat(v);
      }
    }
    this._size = size;
    this._index_ = m;
    return m;
  }
  _key(name) {
    return this._lower ? String(name).toLowerCase() : String(name);
  }
  get(name) {
    if (this._index_ === null && this._flat !== null) {
      const key = RS + this._key(name) + GS;
      const i = this._flat.indexOf(key);
      if (i < 0) return null;
      const from = i + key.length;
      const to = this._flat.indexOf(RS, from);
      return to < 0 ? this._flat.slice(from) : this._flat.slice(from, to);
    }
    const v = this._index()[this._key(name)];
    return v === undefined || v.length === 0 ? null : v[0];
  }
  all(name) {
    const v = this._index()[this._key(name)];
    return v === undefined ? [] : v.slice();
  }
  has(name) {
    if (this._index_ === null && this._flat !== null) return this._flat.indexOf(RS + this._key(name) + GS) >= 0;
    return this._index()[this._key(name)] !== undefined;
  }
  keys() {
    return Object.keys(this._index());
  }
  entries() {
    const m = this._index();
    const out = [];
    for (const k in m) out.push([k, m[k].slice()]);
    return out;
  }
  [Symbol.iterator]() {
    return this.entries()[Symbol.iterator]();
  }
  get size() {
    this._index();
    return this._size;
  }
  /** name -> [values] (what JSON.stringify shows). */
  toJSON() {
    const m = this._index();
    const o = {};
    for (const k in m) {
      if (k === '__proto__') setOwn(o, k, m[k].slice());
      else o[k] = m[k].slice();
    }
    return o;
  }
}

/** o[k] = v even for k = "__proto__" (which would set the prototype instead of a field). */
function setOwn(o, k, v) {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

/** Parses application/x-www-form-urlencoded text into [[name, [values]]] pairs. */
function parseForm(text) {
  const pairs = [];
  if (text === '') return pairs;
  for (const part of text.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = safeDecode((eq < 0 ? part : part.slice(0, eq)).replace(/\+/g, ' '));
    const v = eq < 0 ? '' : safeDecode(part.slice(eq + 1).replace(/\+/g, ' '));
    pairs.push([k, [v]]);
  }
  return pairs;
}

const EMPTY = new Uint8Array(0);

export class Request {
  /**
   * Built by the host from its request head (flat text or JSON, see runtimes/quickjs/marshal.ts) and
   * the body ArrayBuffer. Everything is decoded on first use: object building is what costs in QuickJS.
   */
  constructor(meta, body) {
    this._m = meta;
    this._f = null;
    this._buf = body;
  }
  _fields() {
    if (this._f === null) {
      const m = this._m;
      if (m.charCodeAt(0) === 0x5b /* [ */) this._f = JSON.parse(m);
      else {
        const f = m.split(US, 10); // f[9]: params as flat text, decoded on first use (get params)
        f[10] = m.slice(m.lastIndexOf(US) + 1); // headers: the last section
        this._f = f;
      }
    }
    return this._f;
  }
  get method() { return this._fields()[0]; }
  get path() { return this._fields()[1]; }
  get rawQuery() { return this._fields()[2]; }
  get protocol() { return this._fields()[3]; }
  get scheme() { return this._fields()[4]; }
  get host() { return this._fields()[5]; }
  get remote() { return this._fields()[6]; }
  get query() {
    if (this._query === undefined) this._query = new MultiMap(this._fields()[7]);
    return this._query;
  }
  get headers() {
    if (this._headers === undefined) this._headers = new MultiMap(this._fields()[10], true);
    return this._headers;
  }
  get params() {
    if (this._params === undefined) {
      const src = this._fields()[9];
      if (typeof src !== 'string') this._params = src;
      else {
        const p = {};
        let i = src.indexOf(RS);
        while (i >= 0) {
          const g = src.indexOf(GS, i + 1);
          const next = src.indexOf(RS, g + 1);
          const k = src.slice(i + 1, g);
          const v = next < 0 ? src.slice(g + 1) : src.slice(g + 1, next);
          if (k === '__proto__') setOwn(p, k, v);
          else p[k] = v;
          i = next;
        }
        this._params = p;
      }
    }
    return this._params;
  }
  set params(v) {
    this._params = v;
  }
  toJSON() {
    return { method: this.method, path: this.path, rawQuery: this.rawQuery, query: this.query, headers: this.headers, cookies: this.cookies, params: this.params, protocol: this.protocol, scheme: this.scheme, host: this.host, remote: this.remote };
  }
  /** Cookie name -> value (plain object). */
  get cookies() {
    if (this._cookies === undefined) {
      const c = {};
      const src = this._fields()[8];
      const put = (k, v) => {
        if (k === '__proto__') setOwn(c, k, v);
        else c[k] = v;
      };
      if (typeof src !== 'string') for (const [k, v] of src) put(k, v);
      else if (src !== '') {
        const items = src.split(RS);
        for (let i = 1; i < items.length; i++) {
          const g = items[i].indexOf(GS);
          put(items[i].slice(0, g), items[i].slice(g + 1));
        }
      }
      this._cookies = c;
    }
    return this._cookies;
  }
  /** The request body as a Uint8Array (empty when there was none). */
  get body() {
    if (this._bytes === undefined) this._bytes = this._buf === undefined ? EMPTY : new Uint8Array(this._buf);
    return this._bytes;
  }
  /** The body decoded as UTF-8. */
  text() {
    if (this._text === undefined) this._text = decodeUtf8(this.body);
    return this._text;
  }
  /** The body parsed as JSON (throws SyntaxError when it is not JSON). */
  json() {
    return JSON.parse(this.text());
  }
  /** The body parsed as application/x-www-form-urlencoded, as a MultiMap. */
  form() {
    return new MultiMap(parseForm(this.text()));
  }
}

// ---------------------------------------------------------------------------------------------
// Response

const TEXT = 'text/plain; charset=utf-8';

export class Response {
  /**
   * @param body string | Uint8Array | ArrayBuffer | null
   * @param init { status?: number, headers?: object | [name, value][] }
   */
  constructor(body, init) {
    // No default parameters or destructuring: in QuickJS each costs microseconds per response.
    this.status = 200;
    this.body = body === undefined ? null : body;
    // The headers object is made on first use. Until then a helper's content-type waits in _type:
    // text('hi') allocates one object, and the dispatcher answers it with a precomputed head.
    this._h = null;
    this._type = null;
    if (init !== undefined && init !== null) {
      if (init.status !== undefined) this.status = init.status;
      if (init.headers) for (const [k, v] of headerPairs(init.headers)) this.append(k, v);
    }
  }
  /** The header fields, name (lower case) -> value or list of values; a plain object to read or change. */
  get headers() {
    let h = this._h;
    if (h === null) {
      h = {};
      if (this._type !== null) h['content-type'] = this._type;
      this._h = h;
    }
    return h;
  }
  set headers(h) {
    this._h = h === undefined || h === null ? {} : h;
    this._type = null;
  }
  /** Sets a header (replacing any value); chainable. */
  set(name, value) {
    this.headers[String(name).toLowerCase()] = String(value);
    return this;
  }
  /** Adds a header value (keeps earlier ones, e.g. set-cookie); chainable. */
  append(name, value) {
    const k = String(name).toLowerCase();
    const prev = this.headers[k];
    this.headers[k] = prev === undefined ? String(value) : [].concat(prev, String(value));
    return this;
  }
  static text(s, status) {
    const r = new Response(typeof s === 'string' ? s : String(s));
    if (status !== undefined) r.status = status;
    r._type = TEXT;
    return r;
  }
  static json(v, status) {
    const r = new Response(JSON.stringify(v));
    if (status !== undefined) r.status = status;
    r._type = JSON_TYPE;
    return r;
  }
  static bytes(b, status) {
    const r = new Response(b);
    if (status !== undefined) r.status = status;
    r._type = 'application/octet-stream';
    return r;
  }
  static redirect(url, status) {
    const r = new Response(null);
    r.status = status === undefined ? 302 : status;
    r.headers.location = String(url);
    return r;
  }
}

/** Plain helpers, same as the Response statics (text(), json(), bytes(), redirect()). */
export const text = Response.text;
export const json = Response.json;
export const bytes = Response.bytes;
export const redirect = Response.redirect;

/** headers as an object (value or list of values) or as [[name, value]] -> [[name, value]]. */
function headerPairs(h) {
  const out = [];
  if (h === null || h === undefined) return out;
  if (Array.isArray(h)) {
    for (const p of h) out.push([String(p[0]), String(p[1])]);
    return out;
  }
  for (const k in h) {
    const v = h[k];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) out.push([k, String(x)]);
    else out.push([k, String(v)]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Router

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** "/users/:id/files/*rest" -> matcher(path) -> params | null */
function compile(pattern) {
  const segs = String(pattern).split('/').filter((s) => s !== '');
  const rest = segs.length > 0 && segs[segs.length - 1][0] === '*' ? segs.pop().slice(1) || 'rest' : null;
  return (parts) => {
    if (rest === null ? parts.length !== segs.length : parts.length < segs.length) return null;
    const params = {};
    for (let i = 0; i < segs.length; i++) {
      const s = segs[i];
      const p = safeDecode(parts[i]);
      if (s[0] === ':') params[s.slice(1)] = p;
      else if (s !== p) return null;
    }
    if (rest !== null) params[rest] = parts.slice(segs.length).map(safeDecode).join('/');
    return params;
  };
}

/**
 * A small router: app.get('/users/:id', handler). No match: 404 "not found"; the path matched with
 * another method: 405 with an allow header. GET routes answer HEAD too.
 */
export class App {
  constructor() {
    this.routes = [];
  }
  route(method, pattern, handler) {
    if (typeof handler !== 'function') throw new TypeError(`handler for ${method} ${pattern} must be a function`);
    this.routes.push({ method: method === '*' ? '*' : String(method).toUpperCase(), match: compile(pattern), handler });
    return this;
  }
  get(p, h) { return this.route('GET', p, h); }
  head(p, h) { return this.route('HEAD', p, h); }
  post(p, h) { return this.route('POST', p, h); }
  put(p, h) { return this.route('PUT', p, h); }
  patch(p, h) { return this.route('PATCH', p, h); }
  delete(p, h) { return this.route('DELETE', p, h); }
  options(p, h) { return this.route('OPTIONS', p, h); }
  all(p, h) { return this.route('*', p, h); }

  handle(req) {
    const parts = req.path.split('/').filter((s) => s !== '');
    const allowed = [];
    for (const r of this.routes) {
      const params = r.match(parts);
      if (params === null) continue;
      if (r.method === '*' || r.method === req.method || (r.method === 'GET' && req.method === 'HEAD')) {
        req.params = Object.assign({}, req.params, params);
        return r.handler(req);
      }
      if (r.method === '*') continue;
      if (!allowed.includes(r.method)) allowed.push(r.method);
      if (r.method === 'GET' && !allowed.includes('HEAD')) allowed.push('HEAD');
    }
    if (allowed.length === 0) return new Response('not found', { status: 404, headers: { 'content-type': TEXT } });
    allowed.sort((a, b) => METHODS.indexOf(a) - METHODS.indexOf(b));
    return new Response('method not allowed', { status: 405, headers: { 'content-type': TEXT, allow: allowed.join(', ') } });
  }
}

// ---------------------------------------------------------------------------------------------
// Host side of the sandbox (used by runtimes/quickjs only)

function isBytes(b) {
  return b instanceof ArrayBuffer || ArrayBuffer.isView(b);
}

function toArrayBuffer(b) {
  if (b instanceof ArrayBuffer) return b;
  if (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength) return b.buffer;
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
}

const STRING_HEAD = '200' + US + '1' + US + 'content-type' + GS + TEXT + US + 't';
const JSON_TYPE = 'application/json';
const JSON_HEAD = '200' + US + '1' + US + 'content-type' + GS + JSON_TYPE + US + 't';

/**
 * The answer head of a 200 whose only header is the content-type text() or json() set, or null:
 * such answers (most small handlers) skip flatten() here and are recognised by prefix in the host.
 */
function helperHead(h) {
  let head = null;
  for (const k in h) {
    if (head !== null || k !== 'content-type') return null;
    head = headOfType(h[k]);
    if (head === null) return null;
  }
  return head;
}

/** The answer head of a 200 whose only header is this content-type (text() or json()), or null. */
function headOfType(type) {
  return type === TEXT ? STRING_HEAD : type === JSON_TYPE ? JSON_HEAD : null;
}

// Set by flatten(): whether the headers named a content-type (saves a second pass), and how many
// fields it wrote (the host checks the count, so a separator inside a value cannot add a field).
let flatHadType = false;
let flatCount = 0;

function isContentType(k) {
  return k === 'content-type' || (k.length === 12 && k.toLowerCase() === 'content-type');
}

/**
 * Response headers (object or pairs) -> "name GS value RS name GS value". Written out inline:
 * in QuickJS every call and String() conversion is a measurable share of a small response.
 */
function flatten(h) {
  flatHadType = false;
  flatCount = 0;
  let flat = '';
  if (h === null || h === undefined) return flat;
  if (Array.isArray(h)) {
    for (let i = 0; i < h.length; i++) {
      const k = String(h[i][0]);
      if (!flatHadType && isContentType(k)) flatHadType = true;
      flat = flat === '' ? k + GS + String(h[i][1]) : flat + RS + k + GS + String(h[i][1]);
    }
    flatCount = h.length;
    return flat;
  }
  for (const k in h) {
    let v = h[k];
    if (v === undefined || v === null) continue;
    if (!flatHadType && isContentType(k)) flatHadType = true;
    if (typeof v !== 'string') {
      if (!Array.isArray(v)) v = String(v);
      else {
        for (let i = 0; i < v.length; i++) flat = flat === '' ? k + GS + String(v[i]) : flat + RS + k + GS + String(v[i]);
        flatCount += v.length;
        continue;
      }
    }
    flat = flat === '' ? k + GS + v : flat + RS + k + GS + v;
    flatCount++;
  }
  return flat;
}

function add(flat, k, v) {
  flatCount++;
  return flat === '' ? k + GS + v : flat + RS + k + GS + v;
}

/** The header fields as [[name, value]] pairs, content-type added when missing (for the JSON form). */
function headerList(h, type) {
  const list = headerPairs(h);
  if (type !== null) list.push(['content-type', type]);
  return list;
}

/**
 * The host's entry points. makeDispatcher(app, maxBytes) returns [dispatch, settle, takeBytes]:
 * - dispatch(meta, body?) runs the handler and returns the answer as one string (format in
 *   runtimes/quickjs/marshal.ts); '' means "async: run the job queue and call settle()".
 * - settle() returns the answer string once the pending promise settled ("" if still pending) and
 *   rethrows its rejection.
 * One string per call keeps the boundary crossings (the expensive part) to a minimum.
 */
function makeDispatcher(app, maxBytes) {
  let handler;
  if (typeof app === 'function') handler = app;
  else if (app !== null && typeof app === 'object' && typeof app.handle === 'function') handler = (req) => app.handle(req);
  else throw new TypeError('the default export must be a function (req) => response or an object with a handle(req) method');

  let pendingBytes;
  let seq = 0;
  let state = 0; // 0 idle, 1 pending, 2 fulfilled, 3 rejected
  let outcome;

  const finish = (res) => {
    if (typeof res === 'string') {
      if (res.length > maxBytes) return JSON.stringify([0, null, res.length]);
      if (res.indexOf('\0') < 0) return STRING_HEAD + res;
      return answer(200, [['content-type', TEXT]], encodeUtf8(res));
    }
    if (res === null || typeof res !== 'object') {
      throw new TypeError(`a handler must return a response, a {status, headers, body} object or a string (got ${res === null ? 'null' : typeof res})`);
    }
    const isResponse = res instanceof Response;
    if (!isResponse && isBytes(res)) return answer(200, [['content-type', 'application/octet-stream']], res);
    if (res.status === 200 && typeof res.body === 'string' && res.body !== '' && res.body.length <= maxBytes && res.body.indexOf('\0') < 0) {
      // A text()/json() Response whose headers were never touched has no headers object to look at.
      const head = isResponse && res._h === null ? headOfType(res._type) : helperHead(res.headers);
      if (head !== null) return head + res.body;
    }
    const status = res.status === undefined ? 200 : res.status;
    // (x | 0) !== x also rejects non-numbers, fractions and NaN, in one step.
    if ((status | 0) !== status || status < 100 || status > 599) {
      throw new RangeError(`invalid response status: ${String(status)}`);
    }
    let flat = flatten(res.headers);
    let body = res.body;
    let type = null;
    if (body === undefined || body === null || body === '') body = null;
    else if (typeof body === 'string') {
      if (!flatHadType) type = TEXT;
    } else if (isBytes(body)) {
      if (!flatHadType) type = 'application/octet-stream';
    } else {
      body = JSON.stringify(body);
      if (!flatHadType) type = JSON_TYPE;
    }
    if (type !== null) flat = add(flat, 'content-type', type);
    // US or NUL inside a header would break the framing (RS and GS are caught by the host's field
    // count): such answers (never valid HTTP) go in the JSON form for the host to reject.
    if (flat.indexOf(US) >= 0 || flat.indexOf('\0') >= 0) return answer(status, headerList(res.headers, type), body);
    const head = status + US + flatCount + US + flat + US;
    if (body === null) return head + 'n';
    if (typeof body === 'string') {
      // A string longer than the limit is over it in UTF-8 too; the host checks the exact size.
      if (body.length > maxBytes) return JSON.stringify([0, null, body.length]);
      // The host reads strings up to the first NUL: such text travels as bytes.
      if (body.indexOf('\0') < 0) return head + 't' + body;
      body = encodeUtf8(body);
    }
    if (body.byteLength > maxBytes) return JSON.stringify([0, null, body.byteLength]);
    pendingBytes = toArrayBuffer(body);
    return head + 'b';
  };

  /** The general (JSON) form. */
  const answer = (status, headers, body) => {
    if (body === null) return JSON.stringify([status, headers, null]);
    if (typeof body === 'string') {
      if (body.length > maxBytes) return JSON.stringify([0, null, body.length]);
      if (body.indexOf('\0') < 0) return JSON.stringify([status, headers, body]);
      body = encodeUtf8(body);
    }
    if (body.byteLength > maxBytes) return JSON.stringify([0, null, body.byteLength]);
    pendingBytes = toArrayBuffer(body);
    return JSON.stringify([status, headers, 1]);
  };

  const dispatch = (meta, body) => {
    const out = handler(new Request(meta, body));
    if (out === null || typeof out !== 'object' || typeof out.then !== 'function') return finish(out);
    // A promise left behind by an earlier call (e.g. resolved later through a global) must not
    // overwrite this call's outcome: only the latest call may settle.
    const me = ++seq;
    state = 1;
    outcome = undefined;
    Promise.resolve(out).then(
      (v) => {
        if (me !== seq) return;
        state = 2;
        outcome = v;
      },
      (e) => {
        if (me !== seq) return;
        state = 3;
        outcome = e;
      },
    );
    return '';
  };

  const settle = () => {
    const s = state;
    if (s === 1) return '';
    const v = outcome;
    state = 0;
    outcome = undefined;
    if (s === 3) throw v;
    return finish(v);
  };

  const takeBytes = () => {
    const b = pendingBytes;
    pendingBytes = undefined;
    return b;
  };

  return [dispatch, settle, takeBytes];
}

export const __host = { makeDispatcher };
