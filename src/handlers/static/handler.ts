import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { PassThrough, pipeline, Readable } from 'node:stream';
import type { Logger } from '../../core/logger.js';
import type { Request } from '../../core/request.js';
import { Response, type FileBody, type ResponseHeaders } from '../../core/response.js';
import { MemoryCache, type CachedFile, type Variant } from './cache.js';
import { compressOnce, compressStream } from './compress.js';
import { evaluatePreconditions, ifRangeAllows, makeEtag, type Validators } from './conditional.js';
import { AcceptEncodingMemo, chooseCoding, type Coding } from './encoding.js';
import { StatCache, STAT_TTL_MS, type FileInfo } from './fsinfo.js';
import { readListing, renderListing } from './listing.js';
import { isCompressible, MimeTable } from './mime.js';
import { resolveRequestPath, type ResolvedPath } from './path.js';
import type { StaticOptions } from './config.js';
import { contentRange, multipartBytes, multipartLength, parseRange, partHeader, closingDelimiter, type ByteRange } from './range.js';

/** The request fields the handler looks at, read in one pass over the raw header list. */
interface RequestFields {
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  ifUnmodifiedSince: string | undefined;
  ifRange: string | undefined;
  range: string | undefined;
  acceptEncoding: string | undefined;
}

const TEXT = Object.freeze({ 'content-type': 'text/plain; charset=utf-8' });
const ALLOW = Object.freeze({ 'content-type': 'text/plain; charset=utf-8', allow: 'GET, HEAD' });
const SUFFIX: Record<Exclude<Coding, 'identity'>, string> = { br: '.br', gzip: '.gz' };
const MAX_RESOLVED = 10_000;
const CLOCK_TICK_MS = 250;

function text(status: number, body: string, headers: ResponseHeaders = TEXT): Response {
  return new Response(status, body, headers);
}

/**
 * Case-insensitive test of a header name. Lower-case names (HTTP/2, most clients) need no work; for
 * "Accept-Encoding" V8's toLowerCase() measured ~2x faster than a charCodeAt loop.
 */
function is(name: string, lower: string): boolean {
  return name === lower || name.toLowerCase() === lower;
}

/**
 * The raw path to serve when the route has no "*" param: a named rest ("/files/*rest") gives params.rest,
 * anything else (an exact route) serves the whole request path.
 */
function restOf(req: Request): string {
  const pattern = req.route;
  if (pattern !== null) {
    const slash = pattern.lastIndexOf('/');
    if (pattern.charCodeAt(slash + 1) === 42 /* * */) {
      const value = req.params[pattern.slice(slash + 2)];
      if (value !== undefined) return value;
    }
  }
  return req.path;
}

function joined(prev: string | undefined, value: string): string {
  return prev === undefined ? value : `${prev}, ${value}`;
}

function httpDate(mtimeMs: number): string {
  return new Date(Math.floor(mtimeMs / 1000) * 1000).toUTCString();
}

/**
 * Serves files under one root. The hot path (a file in the memory cache) is synchronous: one Map lookup by
 * the raw path, one pass over the raw headers, and a Response around shared frozen headers.
 */
export class StaticHandler {
  readonly #opts: StaticOptions;
  readonly #log: Logger;
  readonly #cache: MemoryCache;
  readonly #stats: StatCache;
  readonly #mime = new MimeTable();
  readonly #ae = new AcceptEncodingMemo();
  readonly #resolved = new Map<string, ResolvedPath>();
  readonly #loading = new Map<string, Promise<CachedFile | null>>();
  readonly #boundary = randomBytes(12).toString('hex');
  /** A coarse clock (Date.now() costs ~50 ns, too much for a hit): refreshed by a timer, read on hits. */
  #now = Date.now();
  readonly #clock: NodeJS.Timeout;
  /** Reused for every request: the hot path is synchronous, so no two requests share it at once. */
  readonly #fields: RequestFields = {
    ifMatch: undefined,
    ifNoneMatch: undefined,
    ifModifiedSince: undefined,
    ifUnmodifiedSince: undefined,
    ifRange: undefined,
    range: undefined,
    acceptEncoding: undefined,
  };

  constructor(opts: StaticOptions, realRoot: string, log: Logger) {
    this.#opts = opts;
    this.#log = log;
    this.#stats = new StatCache(realRoot, opts.followSymlinks);
    this.#cache = new MemoryCache(opts.maxFileSize > 0 ? opts.maxCacheSize : 0, (path, dir) => {
      if (path === null) this.#stats.forgetUnder(dir);
      else this.#stats.forget(path);
    });
    this.#clock = setInterval(() => {
      this.#now = Date.now();
    }, CLOCK_TICK_MS);
    this.#clock.unref();
  }

  /** Cache statistics, for tests and the status page. */
  get cacheInfo(): { entries: number; bytes: number; watchedDirs: number } {
    return { entries: this.#cache.size, bytes: this.#cache.bytes, watchedDirs: this.#cache.watchedDirs };
  }

  readonly handle = (req: Request): Response | Promise<Response> => {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return text(405, 'method not allowed\n', ALLOW);
    const raw = req.params['*'] ?? restOf(req);
    const entry = this.#cache.get(raw);
    // raw "" is both "/prefix" (needs a redirect) and "/prefix/": only the latter may hit.
    if (entry !== undefined && (raw.length !== 0 || req.path.endsWith('/'))) {
      entry.ref = true;
      if (!entry.checking && this.#now - entry.checkedAt > STAT_TTL_MS) this.#revalidate(entry);
      return this.#serveCached(req, entry);
    }
    return this.#slow(req, raw);
  };

  dispose(): void {
    clearInterval(this.#clock);
    this.#cache.dispose();
    this.#stats.clear();
    this.#resolved.clear();
  }

  #readFields(req: Request): RequestFields {
    const f = this.#fields;
    f.ifMatch = f.ifNoneMatch = f.ifModifiedSince = f.ifUnmodifiedSince = f.ifRange = f.range = f.acceptEncoding = undefined;
    const raw = req.headers.raw;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i];
      switch (name.length) {
        case 5:
          if (is(name, 'range')) f.range = joined(f.range, raw[i + 1]);
          break;
        case 8:
          if (is(name, 'if-match')) f.ifMatch = joined(f.ifMatch, raw[i + 1]);
          else if (is(name, 'if-range')) f.ifRange = raw[i + 1];
          break;
        case 13:
          if (is(name, 'if-none-match')) f.ifNoneMatch = joined(f.ifNoneMatch, raw[i + 1]);
          break;
        case 15:
          if (is(name, 'accept-encoding')) f.acceptEncoding = joined(f.acceptEncoding, raw[i + 1]);
          break;
        case 17:
          if (is(name, 'if-modified-since')) f.ifModifiedSince = raw[i + 1];
          break;
        case 19:
          if (is(name, 'if-unmodified-since')) f.ifUnmodifiedSince = raw[i + 1];
          break;
      }
    }
    return f;
  }

  // ---- cached files ------------------------------------------------------------------------------

  #serveCached(req: Request, e: CachedFile): Response {
    const f = this.#readFields(req);
    const wantsRange = f.range !== undefined && req.method === 'GET';
    let v: Variant = e.identity;
    if (e.br !== null || e.gzip !== null) {
      const coding = chooseCoding(
        this.#ae.get(f.acceptEncoding),
        e.br !== null && (!wantsRange || e.br.rangeable),
        e.gzip !== null && (!wantsRange || e.gzip.rangeable),
      );
      if (coding === 'br') v = e.br as Variant;
      else if (coding === 'gzip') v = e.gzip as Variant;
    }
    if (f.ifMatch !== undefined || f.ifNoneMatch !== undefined || f.ifModifiedSince !== undefined || f.ifUnmodifiedSince !== undefined) {
      const outcome = evaluatePreconditions(f, v.validators);
      if (outcome === 304) return new Response(304, null, v.headers304);
      if (outcome === 412) return text(412, 'precondition failed\n');
    }
    if (wantsRange && (f.ifRange === undefined || ifRangeAllows(f.ifRange, v.validators, v.lastModified))) {
      return this.#rangeOfBytes(v, e.contentType, f.range as string);
    }
    return new Response(200, v.bytes, v.headers200);
  }

  #rangeOfBytes(v: Variant, contentType: string, header: string): Response {
    const size = v.bytes.byteLength;
    const ranges = parseRange(header, size);
    if (ranges === null) return new Response(200, v.bytes, v.headers200);
    if (ranges === 'unsatisfiable') return this.#unsatisfiable(size);
    const headers: ResponseHeaders = { ...v.headers200 };
    if (ranges.length === 1) {
      const r = ranges[0];
      headers['content-range'] = contentRange(r, size);
      return new Response(206, v.bytes.subarray(r.start, r.end), headers);
    }
    headers['content-type'] = `multipart/byteranges; boundary=${this.#boundary}`;
    return new Response(206, multipartBytes(v.bytes, ranges, this.#boundary, contentType), headers);
  }

  #unsatisfiable(size: number): Response {
    return text(416, 'range not satisfiable\n', { 'content-type': 'text/plain; charset=utf-8', 'content-range': `bytes */${size}` });
  }

  #revalidate(e: CachedFile): void {
    e.checking = true;
    stat(e.fsPath).then(
      (st) => {
        e.checking = false;
        if (st.mtimeMs !== e.mtimeMs || st.size !== e.size || st.ino !== e.ino || !st.isFile()) this.#cache.invalidatePath(e.fsPath);
        else e.checkedAt = Date.now();
      },
      () => {
        e.checking = false;
        this.#cache.invalidatePath(e.fsPath);
      },
    );
  }

  // ---- resolution (the slow path) ----------------------------------------------------------------

  #resolve(raw: string): ResolvedPath {
    let r = this.#resolved.get(raw);
    if (r === undefined) {
      r = resolveRequestPath(raw, this.#opts);
      if (this.#resolved.size >= MAX_RESOLVED) this.#resolved.clear();
      this.#resolved.set(raw, r);
    }
    return r;
  }

  async #slow(req: Request, raw: string): Promise<Response> {
    const resolved = this.#resolve(raw);
    if (!resolved.ok) return resolved.status === 400 ? text(400, 'bad request\n') : text(404, 'not found\n');
    const segments = resolved.segments;
    const root = this.#opts.root;
    const fsPath = segments.length === 0 ? root : root + '/' + segments.join('/');
    try {
      const info = await this.#stats.lookup(fsPath);
      const slash = req.path.endsWith('/');
      if (info.kind === 'file') {
        if (slash) return text(404, 'not found\n'); // "file.txt/" is not a directory
        return await this.#serveFile(req, raw, fsPath, info);
      }
      if (info.kind !== 'dir') return text(404, 'not found\n');
      if (!slash) return this.#redirectToDir(req);
      for (const name of this.#opts.index) {
        const indexPath = join(fsPath, name);
        const indexInfo = await this.#stats.lookup(indexPath);
        if (indexInfo.kind === 'file') return await this.#serveFile(req, raw, indexPath, indexInfo);
      }
      if (this.#opts.listing) return await this.#listing(fsPath, segments);
      return text(404, 'not found\n');
    } catch (err) {
      this.#log.warn({ err, path: fsPath }, 'static: could not serve file');
      return text(404, 'not found\n');
    }
  }

  #redirectToDir(req: Request): Response {
    // Collapse leading slashes so "//evil.example" can never become a protocol-relative Location.
    const path = '/' + req.path.replace(/^\/+/, '') + '/';
    const query = req.rawQuery;
    return new Response(301, 'moved permanently\n', {
      'content-type': 'text/plain; charset=utf-8',
      location: query.length > 0 ? `${path}?${query}` : path,
    });
  }

  async #listing(dirPath: string, segments: readonly string[]): Promise<Response> {
    const entries = await readListing(dirPath, this.#opts.hideDotfiles);
    const display = '/' + segments.map((s) => s + '/').join('');
    return new Response(200, renderListing(display, entries, segments.length === 0), {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
    });
  }

  async #serveFile(req: Request, raw: string, fsPath: string, info: FileInfo & { kind: 'file' }): Promise<Response> {
    if (info.size <= this.#opts.maxFileSize && this.#cache.fits(info.size)) {
      const entry = await this.#loadShared(raw, fsPath);
      if (entry !== null) return this.#serveCached(req, entry);
    }
    return this.#serveFromDisk(req, fsPath, info);
  }

  #loadShared(raw: string, fsPath: string): Promise<CachedFile | null> {
    let pending = this.#loading.get(raw);
    if (pending === undefined) {
      pending = this.#load(fsPath).then(
        (entry) => {
          this.#loading.delete(raw);
          if (entry !== null) this.#cache.set(raw, entry);
          return entry;
        },
        (err: unknown) => {
          this.#loading.delete(raw);
          this.#log.debug({ err, path: fsPath }, 'static: not cached');
          return null;
        },
      );
      this.#loading.set(raw, pending);
    }
    return pending;
  }

  /** Reads a small file (and its precompressed siblings) and prepares every response it can give. */
  async #load(fsPath: string): Promise<CachedFile | null> {
    const opts = this.#opts;
    const dir = dirname(fsPath);
    this.#cache.watchDir(dir); // first, so a change during the read is not missed
    const checkedAt = Date.now();
    const fh = await open(fsPath, 'r');
    let bytes: Buffer;
    let st;
    try {
      st = await fh.stat();
      if (!st.isFile() || st.size > opts.maxFileSize) return null;
      bytes = await fh.readFile();
    } finally {
      await fh.close();
    }
    if (bytes.length !== st.size) return null; // changing under us: serve from disk this time
    const contentType = this.#mime.typeFor(fsPath);
    const watched = [fsPath];
    const encoded: Partial<Record<'br' | 'gzip', { bytes: Buffer; etag: string; mtimeMs: number; rangeable: boolean }>> = {};

    for (const coding of opts.precompressed) {
      const siblingPath = fsPath + SUFFIX[coding];
      watched.push(siblingPath);
      const sib = await this.#stats.lookup(siblingPath);
      if (sib.kind !== 'file' || sib.size > opts.maxFileSize) continue;
      const sibBytes = await readFile(siblingPath).catch(() => null);
      if (sibBytes === null) continue;
      encoded[coding] = { bytes: sibBytes, etag: makeEtag(sib.mtimeMs, sibBytes.length, '-' + coding), mtimeMs: sib.mtimeMs, rangeable: true };
    }
    const compressible = opts.compress && isCompressible(contentType) && bytes.length >= opts.compressMinSize;
    if (compressible) {
      for (const coding of ['br', 'gzip'] as const) {
        if (encoded[coding] !== undefined) continue;
        const out = await compressOnce(bytes, coding);
        if (out.length < bytes.length) {
          encoded[coding] = { bytes: out, etag: makeEtag(st.mtimeMs, st.size, '-' + coding), mtimeMs: st.mtimeMs, rangeable: false };
        }
      }
    }
    const vary = compressible || encoded.br !== undefined || encoded.gzip !== undefined;
    const variant = (coding: Coding, body: Buffer, etag: string, mtimeMs: number, rangeable: boolean): Variant => {
      const lastModified = httpDate(mtimeMs);
      const h304: ResponseHeaders = { etag, 'last-modified': lastModified };
      if (opts.cacheControl !== null) h304['cache-control'] = opts.cacheControl;
      if (vary) h304.vary = 'accept-encoding';
      const h200: ResponseHeaders = { 'content-type': contentType, ...h304, 'accept-ranges': 'bytes' };
      if (coding !== 'identity') h200['content-encoding'] = coding;
      const validators: Validators = { etag, mtimeSec: Math.floor(mtimeMs / 1000) };
      return { coding, bytes: body, validators, lastModified, headers200: Object.freeze(h200), headers304: Object.freeze(h304), rangeable };
    };
    const identity = variant('identity', bytes, makeEtag(st.mtimeMs, st.size), st.mtimeMs, true);
    const br = encoded.br === undefined ? null : variant('br', encoded.br.bytes, encoded.br.etag, encoded.br.mtimeMs, encoded.br.rangeable);
    const gzip =
      encoded.gzip === undefined ? null : variant('gzip', encoded.gzip.bytes, encoded.gzip.etag, encoded.gzip.mtimeMs, encoded.gzip.rangeable);
    return {
      fsPath,
      dir,
      contentType,
      size: st.size,
      mtimeMs: st.mtimeMs,
      ino: st.ino,
      identity,
      br,
      gzip,
      cost: bytes.length + (br?.bytes.length ?? 0) + (gzip?.bytes.length ?? 0),
      watched,
      checkedAt,
      checking: false,
      ref: false,
    };
  }

  // ---- files served from disk (too big for the memory cache) ------------------------------------

  async #serveFromDisk(req: Request, fsPath: string, info: FileInfo & { kind: 'file' }): Promise<Response> {
    const opts = this.#opts;
    const f = this.#readFields(req); // read before any await: the scratch object is shared
    const fields = { ...f };
    const wantsRange = fields.range !== undefined && req.method === 'GET';
    const contentType = this.#mime.typeFor(fsPath);
    const compressible = opts.compress && isCompressible(contentType) && info.size >= opts.compressMinSize;

    const siblings: Partial<Record<'br' | 'gzip', FileInfo & { kind: 'file' }>> = {};
    for (const coding of opts.precompressed) {
      const sib = await this.#stats.lookup(fsPath + SUFFIX[coding]);
      if (sib.kind === 'file') siblings[coding] = sib;
    }
    const coding =
      chooseCoding(
        this.#ae.get(fields.acceptEncoding),
        siblings.br !== undefined || (compressible && !wantsRange),
        siblings.gzip !== undefined || (compressible && !wantsRange),
      ) ?? 'identity';

    let path = fsPath;
    let size = info.size;
    let mtimeMs = info.mtimeMs;
    let etag = makeEtag(info.mtimeMs, info.size);
    let streamed = false;
    if (coding !== 'identity') {
      const sib = siblings[coding];
      if (sib !== undefined) {
        path = fsPath + SUFFIX[coding];
        size = sib.size;
        mtimeMs = sib.mtimeMs;
        etag = makeEtag(sib.mtimeMs, sib.size, '-' + coding);
      } else {
        streamed = true;
        etag = 'W/' + makeEtag(info.mtimeMs, info.size, '-' + coding); // compressor output is not byte-stable across versions
      }
    }
    const lastModified = httpDate(mtimeMs);
    const validators: Validators = { etag, mtimeSec: Math.floor(mtimeMs / 1000) };
    const base: ResponseHeaders = { etag, 'last-modified': lastModified };
    if (opts.cacheControl !== null) base['cache-control'] = opts.cacheControl;
    if (compressible || siblings.br !== undefined || siblings.gzip !== undefined) base.vary = 'accept-encoding';

    const outcome = evaluatePreconditions(fields, validators);
    if (outcome === 304) return new Response(304, null, base);
    if (outcome === 412) return text(412, 'precondition failed\n');

    const headers: ResponseHeaders = { 'content-type': contentType, ...base, 'accept-ranges': 'bytes' };
    if (coding !== 'identity') headers['content-encoding'] = coding;

    if (streamed) {
      if (req.method === 'HEAD') return new Response(200, Readable.from([]), headers);
      const source = createReadStream(path);
      const zip = compressStream(coding as Exclude<Coding, 'identity'>, size);
      pipeline(source, zip, (err) => {
        if (err) this.#log.debug({ err, path }, 'static: compression stream ended early');
      });
      return new Response(200, zip, headers);
    }

    if (wantsRange && (fields.ifRange === undefined || ifRangeAllows(fields.ifRange, validators, lastModified))) {
      const ranges = parseRange(fields.range as string, size);
      if (ranges === 'unsatisfiable') return this.#unsatisfiable(size);
      if (ranges !== null && ranges.length === 1) {
        const r = ranges[0];
        headers['content-range'] = contentRange(r, size);
        return new Response(206, fileBody(path, r.start, r.end), headers);
      }
      if (ranges !== null) {
        headers['content-type'] = `multipart/byteranges; boundary=${this.#boundary}`;
        headers['content-length'] = String(multipartLength(ranges, size, this.#boundary, contentType));
        return new Response(206, multipartFileStream(path, ranges, size, this.#boundary, contentType), headers);
      }
    }
    return new Response(200, fileBody(path, 0, size), headers);
  }
}

function fileBody(path: string, start: number, end: number): FileBody {
  return { kind: 'file', path, start, end };
}

/** multipart/byteranges from a file, one range at a time so memory stays flat whatever the sizes. */
function multipartFileStream(path: string, ranges: readonly ByteRange[], size: number, boundary: string, contentType: string): Readable {
  const out = new PassThrough();
  const run = async (): Promise<void> => {
    for (let i = 0; i < ranges.length; i++) {
      const r = ranges[i];
      if (!out.write(partHeader(boundary, contentType, r, size, i === 0))) await onceDrain(out);
      for await (const chunk of createReadStream(path, { start: r.start, end: r.end - 1 })) {
        if (out.destroyed) return;
        if (!out.write(chunk as Buffer)) await onceDrain(out);
      }
    }
    out.end(closingDelimiter(boundary));
  };
  run().catch((err: Error) => out.destroy(err));
  return out;
}

function onceDrain(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}
