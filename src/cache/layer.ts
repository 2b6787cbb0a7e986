import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Handler, HandlerResult } from '../core/handler.js';
import type { Logger } from '../core/logger.js';
import type { Request } from '../core/request.js';
import { isFileBody, Response, type ResponseHeaders } from '../core/response.js';
import { NO_DIRECTIVES, parseCacheControl, type CacheDirectives } from './cache-control.js';
import { hitHeadersMemo, setHitHeadersMemo, type CacheEntry } from './entry.js';
import { variantKey, varyValues, type KeyFunction } from './key.js';
import { currentAge, headerValue, makeEntry, notStorableReason, parseHttpDate, refreshEntry, varyMarker, type StoragePolicy } from './policy.js';
import { addCacheStatus, cacheStatusValue, type ForwardReason, type StatusParams } from './status.js';
import { BodyTee } from './tee.js';
import type { CacheZone, Fill, FillResult } from './zone.js';

export interface CacheLayerOptions {
  readonly zone: CacheZone;
  readonly key: KeyFunction;
  readonly storage: StoragePolicy;
  /** Obey request Cache-Control / Pragma (no-cache, max-age, min-fresh, max-stale, only-if-cached, no-store). */
  readonly honorRequestCacheControl: boolean;
  /** How long a request waits for another request's origin fetch of the same key (ms). */
  readonly lockTimeout: number;
  /** Token PURGE requests must carry; null: PURGE is passed to the inner handler. */
  readonly purgeToken: string | null;
  /** Name of this cache in Cache-Status. */
  readonly statusName: string;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** The parts of one lookup that every later step needs. */
interface Lookup {
  readonly req: Request;
  readonly rcc: Readonly<CacheDirectives>;
  /** Primary key (the template applied to the request). */
  readonly key: string;
  /** Key the response lives under: the primary key, or a variant key under a Vary marker. */
  readonly storeKey: string;
  readonly marker: CacheEntry | null;
}

const PRAGMA_NO_CACHE: Readonly<CacheDirectives> = Object.freeze({ ...NO_DIRECTIVES, noCache: true });
const EMPTY = new Uint8Array(0);
/** Fields a 304 from the cache carries (RFC 9110 §15.4.5). */
const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'last-modified', 'vary'];

const isPromise = <T>(v: T | Promise<T>): v is Promise<T> => v instanceof Promise;

/**
 * Wraps any handler in an RFC 9111 shared cache. A fresh hit answers from the stored entry
 * without calling `inner`; misses are coalesced per key (one origin fetch, the others wait and
 * share its entry); stale entries are revalidated with If-None-Match / If-Modified-Since, or
 * served stale within stale-while-revalidate / stale-if-error windows.
 */
export function cacheHandler(inner: Handler, options: CacheLayerOptions): Handler {
  const layer = new CacheLayer(inner, options);
  return (req) => layer.handle(req);
}

class CacheLayer {
  readonly #inner: Handler;
  readonly #zone: CacheZone;
  readonly #key: KeyFunction;
  readonly #policy: StoragePolicy;
  readonly #honor: boolean;
  readonly #lockTimeout: number;
  readonly #token: Buffer | null;
  readonly #name: string;
  readonly #logger: Logger;
  readonly #now: () => number;
  #storeFailures = 0;
  #storeFailureLoggedAt = 0;
  readonly #hitStatus: string;

  constructor(inner: Handler, o: CacheLayerOptions) {
    this.#inner = inner;
    this.#zone = o.zone;
    this.#key = o.key;
    this.#policy = o.storage;
    this.#honor = o.honorRequestCacheControl;
    this.#lockTimeout = o.lockTimeout;
    this.#token = o.purgeToken === null ? null : Buffer.from(o.purgeToken);
    this.#name = o.statusName;
    this.#logger = o.logger;
    this.#now = o.now ?? Date.now;
    this.#hitStatus = o.statusName + '; hit; ttl=';
  }

  handle(req: Request): HandlerResult {
    const method = req.method;
    if (method === 'GET' || method === 'HEAD') {
      if (req.upgrade !== null) return this.#inner(req);
      return this.#lookup(req);
    }
    if (method === 'PURGE' && this.#token !== null) return this.#purge(req);
    return this.#unsafe(req);
  }

  // ------------------------------------------------------------------------------- lookup

  #lookup(req: Request): HandlerResult {
    const headers = req.headers;
    let rcc = NO_DIRECTIVES;
    if (this.#honor) {
      const cc = headers.get('cache-control');
      if (cc !== undefined) rcc = parseCacheControl(cc);
      else if (headers.get('pragma')?.includes('no-cache') === true) rcc = PRAGMA_NO_CACHE;
    }
    // Ranges are answered by the origin; a partial response is never stored.
    if (headers.has('range')) return this.#pass(req, { fwd: 'bypass', detail: 'range' });
    const key = this.#key(req);
    const got = this.#zone.store.get(key);
    if (isPromise(got)) return got.then((entry) => this.#primary(req, rcc, key, entry));
    return this.#primary(req, rcc, key, got);
  }

  #primary(req: Request, rcc: Readonly<CacheDirectives>, key: string, entry: CacheEntry | null): HandlerResult {
    if (entry !== null && entry.variants !== null) {
      const storeKey = variantKey(key, entry.variants.id, varyValues(req, entry.variants.names));
      const lk: Lookup = { req, rcc, key, storeKey, marker: entry };
      const got = this.#zone.store.get(storeKey);
      if (isPromise(got)) return got.then((variant) => this.#decide(lk, variant, 'vary-miss'));
      return this.#decide(lk, got, 'vary-miss');
    }
    return this.#decide({ req, rcc, key, storeKey: key, marker: null }, entry, 'uri-miss');
  }

  #decide(lk: Lookup, entry: CacheEntry | null, missKind: ForwardReason): HandlerResult {
    const rcc = lk.rcc;
    if (entry === null) {
      if (rcc.onlyIfCached) return this.#gatewayTimeout(missKind);
      return this.#miss(lk, missKind);
    }
    const now = this.#now();
    const age = currentAge(entry, now);
    const remaining = entry.lifetime - age;
    if (rcc !== NO_DIRECTIVES) {
      const mustCheck =
        rcc.noCache || (rcc.maxAge !== null && age > rcc.maxAge * 1000) || (rcc.minFresh !== null && remaining < rcc.minFresh * 1000);
      if (mustCheck) return rcc.onlyIfCached ? this.#gatewayTimeout('request') : this.#refetch(lk, entry, 'request');
    }
    if (remaining > 0) return this.#serve(lk.req, entry, now, null);
    const staleFor = -remaining;
    if (!entry.mustRevalidate) {
      if (rcc.maxStale !== null && staleFor <= rcc.maxStale * 1000) return this.#serve(lk.req, entry, now, { hit: true, detail: 'max-stale' });
      if (staleFor < entry.swr && lk.req.method === 'GET') {
        this.#revalidateInBackground(lk, entry);
        return this.#serve(lk.req, entry, now, { hit: true, detail: 'stale-while-revalidate' });
      }
    }
    if (rcc.onlyIfCached) return this.#gatewayTimeout('stale');
    return this.#refetch(lk, entry, 'stale');
  }

  #miss(lk: Lookup, kind: ForwardReason): HandlerResult {
    const req = lk.req;
    if (req.method === 'HEAD') return this.#pass(req, { fwd: kind, detail: 'head' });
    if (lk.rcc.noStore) return this.#pass(req, { fwd: 'request', detail: 'no-store' });
    const coalesce = !req.headers.has('authorization');
    if (coalesce) {
      const fill = this.#zone.fill(lk.storeKey);
      if (fill !== undefined) return this.#await(lk, fill, kind, null);
    }
    return this.#fetch(lk, null, kind, coalesce);
  }

  #refetch(lk: Lookup, stale: CacheEntry, kind: ForwardReason): HandlerResult {
    const req = lk.req;
    if (req.method === 'HEAD') return this.#pass(req, { fwd: kind, detail: 'head' });
    const coalesce = !req.headers.has('authorization') && kind === 'stale';
    if (coalesce) {
      const fill = this.#zone.fill(lk.storeKey);
      if (fill !== undefined) return this.#await(lk, fill, kind, stale);
    }
    return this.#fetch(lk, stale, kind, coalesce);
  }

  /** Waits for another request's fetch of the same key, then shares its entry when it fits this request. */
  async #await(lk: Lookup, fill: Fill, kind: ForwardReason, stale: CacheEntry | null): Promise<Response> {
    let result: FillResult | null;
    if (fill.settled) {
      // Settled earlier (its store write is still landing): shared only while still fresh.
      result = fill.result !== null && currentAge(fill.result.entry, this.#now()) < fill.result.entry.lifetime ? fill.result : null;
    } else {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<null>((resolve) => {
        timer = setTimeout(resolve, this.#lockTimeout, null);
      });
      result = await Promise.race([fill.done, timeout]);
      clearTimeout(timer);
    }
    if (result !== null) {
      const entry = result.entry;
      if (entry.vary === null || varyValues(lk.req, entry.vary) === result.varyValues) {
        return this.#serve(lk.req, entry, this.#now(), { fwd: kind, collapsed: true });
      }
    }
    // Nothing to share (not storable, too big, another variant, or the wait timed out): fetch alone.
    return this.#fetch(lk, stale, kind, false);
  }

  // -------------------------------------------------------------------------- origin fetch

  async #fetch(lk: Lookup, stale: CacheEntry | null, kind: ForwardReason, register: boolean): Promise<Response> {
    const fill = register ? this.#zone.beginFill(lk.storeKey) : null;
    try {
      return await this.#fetchAndStore(lk, stale, kind, fill);
    } catch (err) {
      fill?.settle(null);
      throw err;
    }
  }

  async #fetchAndStore(lk: Lookup, stale: CacheEntry | null, kind: ForwardReason, fill: Fill | null): Promise<Response> {
    const req = lk.req;
    const clientConditional = req.headers.has('if-none-match') || req.headers.has('if-modified-since');
    // The client's own validators are replaced: the cache needs a full response to store (it then
    // answers the client's condition itself), or a 304 for *its* validators when revalidating.
    let forwarded = req;
    if (clientConditional || stale !== null) {
      const changes: Record<string, string | null> = { 'if-none-match': null, 'if-modified-since': null };
      if (stale !== null) {
        const etag = headerValue(stale.headers, 'etag');
        const lastModified = headerValue(stale.headers, 'last-modified');
        if (etag !== undefined) changes['if-none-match'] = etag;
        if (lastModified !== undefined) changes['if-modified-since'] = lastModified;
      }
      forwarded = req.derive(changes);
    }
    const requestTime = this.#now();
    let res: Response;
    try {
      res = await this.#inner(forwarded);
    } catch (err) {
      fill?.settle(null);
      if (stale !== null && this.#staleIfError(stale, this.#now())) {
        this.#logger.warn({ err, key: lk.storeKey }, 'cache: origin failed; serving a stale entry (stale-if-error)');
        return this.#serve(req, stale, this.#now(), { fwd: kind, detail: 'stale-if-error' });
      }
      throw err;
    }
    const responseTime = this.#now();
    const status = res.status;

    if (stale !== null && status === 304) {
      discard(res);
      const refreshed = refreshEntry(stale, res.headers, requestTime, responseTime, this.#policy);
      this.#storeAndSettle(lk, refreshed, fill);
      return this.#serve(req, refreshed, responseTime, { fwd: kind, fwdStatus: 304, stored: true });
    }
    if (stale !== null && status >= 500 && status <= 504 && this.#staleIfError(stale, responseTime)) {
      discard(res);
      fill?.settle(null);
      this.#logger.warn({ status, key: lk.storeKey }, 'cache: origin answered an error; serving a stale entry (stale-if-error)');
      return this.#serve(req, stale, responseTime, { fwd: kind, fwdStatus: status, detail: 'stale-if-error' });
    }

    const resCc = parseCacheControl(res.headers['cache-control']);
    const facts = { method: req.method, authorization: req.headers.has('authorization'), directives: lk.rcc };
    const reason = notStorableReason(facts, status, res.headers, resCc, this.#policy);
    if (reason !== null) {
      fill?.settle(null);
      return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status, detail: reason }));
    }

    const body = res.body;
    const max = this.#policy.maxObjectSize;
    if (body === null || typeof body === 'string' || body instanceof Uint8Array) {
      const bytes = body === null ? EMPTY : typeof body === 'string' ? Buffer.from(body) : body;
      if (bytes.byteLength > max) {
        fill?.settle(null);
        return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status, detail: 'too-large' }));
      }
      const entry = makeEntry(lk.key, status, res.headers, bytes, requestTime, responseTime, this.#policy);
      if (entry.expiresAt <= responseTime) {
        fill?.settle(null);
        return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status, detail: 'no-lifetime' }));
      }
      this.#storeAndSettle(lk, entry, fill);
      return this.#serve(req, entry, responseTime, { fwd: kind, fwdStatus: status, stored: true });
    }
    if (isFileBody(body)) {
      fill?.settle(null);
      return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status, detail: 'file-body' }));
    }
    const declared = Number(headerValue(res.headers, 'content-length') ?? NaN);
    if (declared > max) {
      fill?.settle(null);
      return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status, detail: 'too-large' }));
    }
    // A streamed body: sent on as it arrives and stored once complete. The client gets its own
    // header object, so the Cache-Status added below never reaches the stored entry.
    const originHeaders = res.headers;
    const tee = new BodyTee(body as Readable, max, (bytes) => {
      if (bytes === null) {
        fill?.settle(null);
        return;
      }
      const entry = makeEntry(lk.key, status, originHeaders, bytes, requestTime, responseTime, this.#policy);
      if (entry.expiresAt <= this.#now()) {
        fill?.settle(null);
        return;
      }
      this.#storeAndSettle(lk, entry, fill);
    });
    const statusValue = cacheStatusValue(this.#name, { fwd: kind, fwdStatus: status });
    if (clientConditional && notModified(req, originHeaders)) {
      tee.abandon();
      return addCacheStatus(notModifiedResponse(originHeaders, null), statusValue);
    }
    const answer = new Response(status, tee, { ...originHeaders });
    answer.trailers = res.trailers;
    return addCacheStatus(answer, statusValue);
  }

  /**
   * Stores an entry (and its Vary marker) and settles the fill with it; returns the Vary values
   * it was stored under.
   */
  #storeAndSettle(lk: Lookup, entry: CacheEntry, fill: Fill | null): string | null {
    const store = this.#zone.store;
    if (entry.vary === null) {
      // (Written before settling: `fill?.settle(..., write())` would skip the write when there is no fill.)
      const written = this.#background(store.set(lk.key, entry));
      fill?.settle({ entry, varyValues: null }, written);
      return null;
    }
    const names = entry.vary;
    const marker = lk.marker;
    const reuse = marker !== null && marker.variants !== null && sameNames(marker.variants.names, names);
    const id = reuse ? (marker.variants as { id: string }).id : randomBytes(6).toString('hex');
    if (!reuse || marker.expiresAt < entry.expiresAt) {
      this.#background(store.set(lk.key, varyMarker(lk.key, names, id, Math.max(entry.expiresAt, reuse ? marker.expiresAt : 0))));
    }
    const values = varyValues(lk.req, names);
    const written = this.#background(store.set(variantKey(lk.key, id, values), entry));
    fill?.settle({ entry, varyValues: values }, written);
    return values;
  }

  /**
   * Lets a store write finish on its own; failures are logged, one line per 10 s at most (a full
   * disk fails every write). Returns it (settled, never rejecting).
   */
  #background(result: void | boolean | Promise<void | boolean>): Promise<unknown> | void {
    if (!isPromise(result)) return;
    return result.catch((err: unknown) => {
      this.#storeFailures++;
      const now = Date.now();
      if (now - this.#storeFailureLoggedAt < 10_000) return;
      this.#storeFailureLoggedAt = now;
      const code = (err as NodeJS.ErrnoException)?.code;
      this.#logger.warn({ err: (err as Error)?.message ?? String(err), code, failures: this.#storeFailures }, `cache: store operation failed${code ? ` (${code})` : ''}; answers are served but not stored`);
      this.#storeFailures = 0;
    });
  }

  #revalidateInBackground(lk: Lookup, stale: CacheEntry): void {
    if (this.#zone.fill(lk.storeKey) !== undefined) return;
    this.#fetch(lk, stale, 'stale', true).then(
      (res) => {
        if (res.body instanceof BodyTee) res.body.abandon();
        else discard(res);
      },
      (err: unknown) => this.#logger.warn({ err, key: lk.storeKey }, 'cache: background revalidation failed'),
    );
  }

  #staleIfError(entry: CacheEntry, now: number): boolean {
    return !entry.mustRevalidate && currentAge(entry, now) - entry.lifetime < entry.sie;
  }

  // ------------------------------------------------------------------------------ answers

  /** Answers from an entry: a 304 when the client's validators match, else the stored response. */
  #serve(req: Request, entry: CacheEntry, now: number, params: StatusParams | null): Response {
    const age = currentAge(entry, now);
    const ageSeconds = Math.max(0, Math.floor(age / 1000));
    const ttl = Math.floor((entry.lifetime - age) / 1000);
    const h = req.headers;
    if ((h.has('if-none-match') || h.has('if-modified-since')) && notModified(req, entry.headers)) {
      const status = cacheStatusValue(this.#name, params === null ? { hit: true, ttl } : { ...params, ttl });
      return notModifiedResponse(entry.headers, { age: String(ageSeconds), status });
    }
    let headers: Readonly<ResponseHeaders>;
    if (params === null) {
      // A plain fresh hit: the header object is shared by every hit within the same second of age.
      const memo = hitHeadersMemo(entry);
      if (memo !== undefined && memo.second === ageSeconds) headers = memo.headers;
      else {
        headers = withCacheFields(entry.headers, String(ageSeconds), this.#hitStatus + ttl);
        setHitHeadersMemo(entry, { second: ageSeconds, headers });
      }
    } else {
      headers = withCacheFields(entry.headers, String(ageSeconds), cacheStatusValue(this.#name, { ...params, ttl }));
    }
    return new Response(entry.status, entry.body, headers as ResponseHeaders);
  }

  #pass(req: Request, params: StatusParams): HandlerResult {
    const value = cacheStatusValue(this.#name, params);
    const result = this.#inner(req);
    if (isPromise(result)) return result.then((res) => addCacheStatus(res, value));
    return addCacheStatus(result, value);
  }

  #gatewayTimeout(kind: ForwardReason): Response {
    const res = new Response(504, '504 Gateway Timeout (only-if-cached)\n', { 'content-type': 'text/plain; charset=utf-8' });
    return addCacheStatus(res, cacheStatusValue(this.#name, { fwd: kind, detail: 'only-if-cached' }));
  }

  // ------------------------------------------------------------------ unsafe methods, purge

  /** Unsafe methods go to the origin; a success invalidates what is stored for the URI (RFC 9111 §4.4). */
  #unsafe(req: Request): HandlerResult {
    const method = req.method;
    const value = cacheStatusValue(this.#name, { fwd: 'method' });
    const after = (res: Response): Response => {
      if (res.status < 400 && method !== 'OPTIONS' && method !== 'TRACE') {
        this.#background(this.#zone.purge(this.#key(req)));
      }
      return addCacheStatus(res, value);
    };
    const result = this.#inner(req);
    return isPromise(result) ? result.then(after) : after(result);
  }

  async #purge(req: Request): Promise<Response> {
    const auth = req.headers.get('authorization');
    const given = req.headers.get('x-purge-token') ?? (auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined);
    const text = (status: number, body: string) => new Response(status, body, { 'content-type': 'text/plain; charset=utf-8' });
    if (given === undefined) return text(401, '401 PURGE needs a token (X-Purge-Token or Authorization: Bearer)\n').set('www-authenticate', 'Bearer');
    const token = this.#token as Buffer;
    const candidate = Buffer.from(given);
    if (candidate.length !== token.length || !timingSafeEqual(candidate, token)) return text(403, '403 wrong purge token\n');
    const key = this.#key(req);
    const removed = await this.#zone.purge(key);
    this.#logger.info({ key, removed }, 'cache: purge');
    return removed ? text(200, 'purged\n') : text(404, 'not cached\n');
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

function discard(res: Response): void {
  const body = res.body;
  if (body !== null && typeof body === 'object' && typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
}

function withCacheFields(stored: Readonly<ResponseHeaders>, age: string, status: string): Readonly<ResponseHeaders> {
  const out: ResponseHeaders = { ...stored, age };
  const prev = stored['cache-status'];
  out['cache-status'] = prev === undefined ? status : (typeof prev === 'string' ? prev : prev.join(', ')) + ', ' + status;
  return Object.freeze(out);
}

/** Whether the request's If-None-Match / If-Modified-Since matches the response (RFC 9110 §13.1). */
function notModified(req: Request, headers: Readonly<ResponseHeaders>): boolean {
  const inm = req.headers.get('if-none-match');
  if (inm !== undefined) {
    const etag = headerValue(headers, 'etag');
    if (etag === undefined) return false;
    if (inm.trim() === '*') return true;
    const weak = (t: string) => (t.startsWith('W/') ? t.slice(2) : t);
    const target = weak(etag.trim());
    return inm.split(',').some((t) => weak(t.trim()) === target);
  }
  const ims = parseHttpDate(req.headers.get('if-modified-since'));
  const lastModified = parseHttpDate(headerValue(headers, 'last-modified'));
  return ims !== null && lastModified !== null && lastModified <= ims;
}

function notModifiedResponse(from: Readonly<ResponseHeaders>, extra: { age: string; status: string } | null): Response {
  const headers: ResponseHeaders = {};
  for (const name of NOT_MODIFIED_FIELDS) {
    const v = from[name];
    if (v !== undefined) headers[name] = v;
  }
  if (extra !== null) {
    headers.age = extra.age;
    const prev = from['cache-status'];
    headers['cache-status'] = prev === undefined ? extra.status : (typeof prev === 'string' ? prev : prev.join(', ')) + ', ' + extra.status;
  }
  return new Response(304, null, headers);
}
