import type { ResponseHeaders } from '../core/response.js';
import { parseCacheControl, type CacheDirectives } from './cache-control.js';
import { freezeEntry, type CacheEntry } from './entry.js';

/** Route-level knobs that shape what gets stored and for how long (all durations in ms). */
export interface StoragePolicy {
  /** Freshness for responses without explicit freshness (max-age, s-maxage, Expires); 0 = RFC heuristic only. */
  readonly defaultTtl: number;
  /** Use the RFC 9111 §4.2.2 heuristic (10% of the time since Last-Modified, at most a day). */
  readonly heuristic: boolean;
  /** stale-while-revalidate / stale-if-error windows when the response names none. */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
  /** How long stale entries with validators stay stored for revalidation. */
  readonly keepStale: number;
  /** Store responses carrying Set-Cookie (the cookie itself is never stored). */
  readonly storeSetCookie: boolean;
  /** Largest body stored (bytes). */
  readonly maxObjectSize: number;
}

/** Statuses cacheable by default (RFC 9110 §15.1), minus 206 (partial content is not stored here). */
const HEURISTIC_STATUSES = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
const HEURISTIC_CAP = 24 * 3600 * 1000;

/**
 * Fields that have one value: a stored array (an upstream repeating Date, say) keeps its first, so
 * answers from the cache are valid for every protocol (HTTP/2 refuses repeated singletons).
 */
const SINGLETONS = new Set(['date', 'etag', 'last-modified', 'expires', 'content-type', 'location', 'content-location', 'content-encoding', 'content-range']);

/** Hop-by-hop fields (RFC 9110 §7.6.1) and fields a cache recomputes, never stored. */
const NOT_STORED = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'age', 'content-length', 'set-cookie']);

export function headerValue(headers: Readonly<ResponseHeaders>, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.join(', ');
}

/** An HTTP date in ms, or null when absent or unparsable. */
export function parseHttpDate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : t;
}

/** What the request contributes to the storage decision. */
export interface RequestFacts {
  readonly method: string;
  readonly authorization: boolean;
  readonly directives: Readonly<CacheDirectives>;
}

/**
 * Why a response may not be stored (RFC 9111 §3), or null when it may. The reason ends up in the
 * Cache-Status "detail" parameter, so it is a short token.
 */
export function notStorableReason(req: RequestFacts, status: number, headers: Readonly<ResponseHeaders>, cc: Readonly<CacheDirectives>, policy: StoragePolicy): string | null {
  if (req.method !== 'GET') return 'method';
  if (status < 200 || status === 206 || status === 304) return 'status';
  if (req.directives.noStore) return 'request-no-store';
  if (cc.noStore) return 'no-store';
  if (cc.private) return 'private';
  // §3.5: a shared cache stores answers to authenticated requests only when the origin says so.
  if (req.authorization && !cc.public && cc.sMaxAge === null && !cc.mustRevalidate) return 'authorization';
  if (headers['set-cookie'] !== undefined && !policy.storeSetCookie) return 'set-cookie';
  const vary = headerValue(headers, 'vary');
  if (vary !== undefined && vary.includes('*')) return 'vary-star';
  const explicit = cc.maxAge !== null || cc.sMaxAge !== null || headers.expires !== undefined || cc.public;
  if (!explicit && !HEURISTIC_STATUSES.has(status)) return 'status';
  return null;
}

/** Lower-case field names of a Vary value, sorted and deduplicated; null when there are none. */
export function varyNames(headers: Readonly<ResponseHeaders>): string[] | null {
  const vary = headerValue(headers, 'vary');
  if (vary === undefined) return null;
  const names = [...new Set(vary.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== ''))].sort();
  return names.length === 0 ? null : names;
}

/**
 * The headers to store: hop-by-hop fields (including those named by Connection), Age and
 * Set-Cookie removed. Returns a new frozen object.
 */
export function storedHeaders(headers: Readonly<ResponseHeaders>): ResponseHeaders {
  const connection = headerValue(headers, 'connection');
  const extra = connection === undefined ? null : new Set(connection.split(',').map((s) => s.trim().toLowerCase()));
  const out: ResponseHeaders = {};
  for (const name in headers) {
    if (NOT_STORED.has(name) || (extra !== null && extra.has(name))) continue;
    const value = headers[name];
    out[name] = Array.isArray(value) && SINGLETONS.has(name) ? value[0] : value;
  }
  return out;
}

/** Freshness lifetime in ms for a shared cache (RFC 9111 §4.2.1), before the no-cache rule. */
export function freshnessLifetime(status: number, headers: Readonly<ResponseHeaders>, cc: Readonly<CacheDirectives>, responseTime: number, policy: StoragePolicy): number {
  if (cc.sMaxAge !== null) return cc.sMaxAge * 1000;
  if (cc.maxAge !== null) return cc.maxAge * 1000;
  const expiresField = headerValue(headers, 'expires');
  if (expiresField !== undefined) {
    const expires = parseHttpDate(expiresField);
    if (expires === null) return 0; // invalid Expires means "already expired" (§5.3)
    const date = parseHttpDate(headerValue(headers, 'date')) ?? responseTime;
    return Math.max(0, expires - date);
  }
  if (policy.defaultTtl > 0) return policy.defaultTtl;
  if (!policy.heuristic || !HEURISTIC_STATUSES.has(status)) return 0;
  const lastModified = parseHttpDate(headerValue(headers, 'last-modified'));
  if (lastModified === null) return 0;
  const date = parseHttpDate(headerValue(headers, 'date')) ?? responseTime;
  return Math.min(HEURISTIC_CAP, Math.max(0, Math.floor((date - lastModified) / 10)));
}

/** corrected_initial_age (RFC 9111 §4.2.3) in ms. */
export function initialAge(headers: Readonly<ResponseHeaders>, requestTime: number, responseTime: number): number {
  const ageField = headerValue(headers, 'age');
  const ageValue = ageField !== undefined && /^\d+$/.test(ageField.trim()) ? Number(ageField.trim()) * 1000 : 0;
  const date = parseHttpDate(headerValue(headers, 'date')) ?? responseTime;
  const apparentAge = Math.max(0, responseTime - date);
  const correctedAgeValue = ageValue + (responseTime - requestTime);
  return Math.max(apparentAge, correctedAgeValue);
}

export function hasValidators(headers: Readonly<ResponseHeaders>): boolean {
  return headers.etag !== undefined || headers['last-modified'] !== undefined;
}

/**
 * Builds the entry for a storable response. `headers` are the full response headers (Age and
 * Date still in), `body` the complete body.
 */
export function makeEntry(
  key: string,
  status: number,
  headers: Readonly<ResponseHeaders>,
  body: Uint8Array,
  requestTime: number,
  responseTime: number,
  policy: StoragePolicy,
): CacheEntry {
  const cc = parseCacheControl(headers['cache-control']);
  const lifetime = cc.noCache ? 0 : freshnessLifetime(status, headers, cc, responseTime, policy);
  const age = initialAge(headers, requestTime, responseTime);
  // s-maxage carries proxy-revalidate semantics for a shared cache (§5.2.2.10); no-cache forbids stale use.
  const mustRevalidate = cc.mustRevalidate || cc.proxyRevalidate || cc.sMaxAge !== null || cc.noCache;
  const swr = mustRevalidate ? 0 : cc.staleWhileRevalidate !== null ? cc.staleWhileRevalidate * 1000 : policy.staleWhileRevalidate;
  const sie = mustRevalidate ? 0 : cc.staleIfError !== null ? cc.staleIfError * 1000 : policy.staleIfError;
  const kept = Math.max(swr, sie, hasValidators(headers) ? policy.keepStale : 0);
  return freezeEntry({
    key,
    status,
    headers: storedHeaders(headers),
    body: ownBytes(body),
    responseTime,
    initialAge: age,
    lifetime,
    swr,
    sie,
    mustRevalidate,
    vary: varyNames(headers),
    expiresAt: responseTime - age + lifetime + kept,
    variants: null,
  });
}

/**
 * The entry refreshed by a 304 (RFC 9111 §4.3.4): stored fields replaced by those the 304 carries,
 * freshness recomputed from the merged fields and the new response times.
 */
export function refreshEntry(entry: CacheEntry, notModifiedHeaders: Readonly<ResponseHeaders>, requestTime: number, responseTime: number, policy: StoragePolicy): CacheEntry {
  const merged: ResponseHeaders = { ...entry.headers };
  for (const name in notModifiedHeaders) {
    if (name === 'content-length') continue;
    merged[name] = notModifiedHeaders[name];
  }
  return makeEntry(entry.key, entry.status, merged, entry.body, requestTime, responseTime, policy);
}

/**
 * The body in a buffer of its own size. A body that is a view into a larger buffer (a socket read,
 * Node's 8 KiB allocation pool) would keep all of it alive for as long as the entry lives, unseen
 * by the size accounting; such bodies are copied once when stored.
 */
export function ownBytes(body: Uint8Array): Uint8Array {
  return body.byteOffset === 0 && body.buffer.byteLength === body.byteLength ? body : new Uint8Array(body);
}

/** Current age of an entry (ms) at `now`. */
export function currentAge(entry: CacheEntry, now: number): number {
  return entry.initialAge + (now - entry.responseTime);
}

export function varyMarker(key: string, names: readonly string[], id: string, expiresAt: number): CacheEntry {
  return freezeEntry({
    key,
    status: 0,
    headers: {},
    body: new Uint8Array(0),
    responseTime: 0,
    initialAge: 0,
    lifetime: 0,
    swr: 0,
    sie: 0,
    mustRevalidate: false,
    vary: null,
    expiresAt,
    variants: { names, id },
  });
}
