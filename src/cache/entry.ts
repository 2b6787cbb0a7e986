import type { ResponseHeaders } from '../core/response.js';

/**
 * One stored response, or a Vary marker. Everything a later request needs to decide freshness is
 * computed when the response is stored, so a hit does arithmetic only.
 * Times are ms since the epoch (Date.now()), so entries shared through Redis or disk stay valid
 * in another process or after a restart.
 */
export interface CacheEntry {
  /** The primary cache key, kept to detect hash collisions in stores that hash it. */
  readonly key: string;
  readonly status: number;
  /** Stored header fields: lower-case names, hop-by-hop fields removed. Frozen. */
  readonly headers: Readonly<ResponseHeaders>;
  readonly body: Uint8Array;
  /** When the response was received (RFC 9111 §4.2.3 response_time). */
  readonly responseTime: number;
  /** corrected_initial_age (ms): age of the response when it was received. */
  readonly initialAge: number;
  /** Freshness lifetime (ms); 0 for responses that must be revalidated on every use. */
  readonly lifetime: number;
  /** stale-while-revalidate / stale-if-error windows (ms) after the entry goes stale. */
  readonly swr: number;
  readonly sie: number;
  /** must-revalidate / proxy-revalidate / s-maxage: never served stale without revalidation. */
  readonly mustRevalidate: boolean;
  /** Lower-case names the response varies on, or null. */
  readonly vary: readonly string[] | null;
  /** When a store may drop the entry (ms since the epoch). */
  readonly expiresAt: number;
  /**
   * Set on Vary markers only: the primary key then holds no response, just the names to vary on
   * and an id that makes the variant keys unique to this marker (a purge that deletes the marker
   * orphans every variant, even in stores that cannot delete by prefix).
   */
  readonly variants: { readonly names: readonly string[]; readonly id: string } | null;
}

/** Per-process memo of the headers a hit sends, rebuilt at most once per second of age. */
export interface HitHeaders {
  second: number;
  headers: Readonly<ResponseHeaders>;
}
const hitMemo = new WeakMap<CacheEntry, HitHeaders>();
export function hitHeadersMemo(entry: CacheEntry): HitHeaders | undefined {
  return hitMemo.get(entry);
}
export function setHitHeadersMemo(entry: CacheEntry, memo: HitHeaders): void {
  hitMemo.set(entry, memo);
}

/** Bytes an entry takes, for size limits: body plus a rough header size. */
export function entrySize(entry: CacheEntry): number {
  let size = entry.body.byteLength + entry.key.length + 128;
  for (const name in entry.headers) {
    const v = entry.headers[name];
    size += name.length + (typeof v === 'string' ? v.length : v.reduce((n, s) => n + s.length + 2, 0)) + 4;
  }
  return size;
}

const MAGIC = 0x41434531; // "ACE1"

/** One buffer: magic, meta length, JSON meta, body. Used by the disk and Redis stores. */
export function encodeEntry(entry: CacheEntry): Buffer {
  const meta = Buffer.from(
    JSON.stringify({
      k: entry.key,
      s: entry.status,
      h: entry.headers,
      rt: entry.responseTime,
      ia: entry.initialAge,
      l: entry.lifetime,
      swr: entry.swr,
      sie: entry.sie,
      mr: entry.mustRevalidate,
      v: entry.vary,
      x: entry.expiresAt,
      vm: entry.variants,
    }),
  );
  const out = Buffer.allocUnsafe(8 + meta.length + entry.body.byteLength);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(meta.length, 4);
  meta.copy(out, 8);
  out.set(entry.body, 8 + meta.length);
  return out;
}

interface Meta {
  k: string;
  s: number;
  h: ResponseHeaders;
  rt: number;
  ia: number;
  l: number;
  swr: number;
  sie: number;
  mr: boolean;
  v: string[] | null;
  x: number;
  vm: { names: string[]; id: string } | null;
}

/** The entry, or null when the bytes are not an entry (corrupt file, foreign Redis value). */
export function decodeEntry(buf: Uint8Array): CacheEntry | null {
  if (buf.byteLength < 8) return null;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.readUInt32BE(0) !== MAGIC) return null;
  const metaLength = b.readUInt32BE(4);
  if (8 + metaLength > b.length) return null;
  let meta: Meta;
  try {
    meta = JSON.parse(b.toString('utf8', 8, 8 + metaLength)) as Meta;
  } catch {
    return null;
  }
  if (typeof meta.k !== 'string' || typeof meta.s !== 'number' || meta.h === null || typeof meta.h !== 'object') return null;
  return freezeEntry({
    key: meta.k,
    status: meta.s,
    headers: meta.h,
    body: b.subarray(8 + metaLength),
    responseTime: meta.rt,
    initialAge: meta.ia,
    lifetime: meta.l,
    swr: meta.swr,
    sie: meta.sie,
    mustRevalidate: meta.mr,
    vary: meta.v,
    expiresAt: meta.x,
    variants: meta.vm,
  });
}

export function freezeEntry(entry: CacheEntry): CacheEntry {
  Object.freeze(entry.headers);
  return Object.freeze(entry);
}
