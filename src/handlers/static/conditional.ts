/** Validators and conditional request evaluation (RFC 9110 §13). */

/** A strong ETag like nginx's: "<mtime seconds hex>-<size hex>", with an optional encoding suffix. */
export function makeEtag(mtimeMs: number, size: number, suffix = ''): string {
  return `"${Math.floor(mtimeMs / 1000).toString(16)}-${size.toString(16)}${suffix}"`;
}

/** The opaque part of an entity tag with any W/ prefix removed (weak comparison). */
function opaque(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** If-None-Match: does any listed tag match `etag` by weak comparison ("*" matches anything)? */
export function noneMatchHits(header: string, etag: string): boolean {
  if (header === etag) return true; // the common case: the client echoes our tag
  const ours = opaque(etag);
  for (const raw of splitTags(header)) {
    if (raw === '*' || opaque(raw) === ours) return true;
  }
  return false;
}

/** If-Match: strong comparison; weak tags never match. */
export function matchHits(header: string, etag: string): boolean {
  if (etag.startsWith('W/')) return header.trim() === '*';
  for (const raw of splitTags(header)) {
    if (raw === '*' || raw === etag) return true;
  }
  return false;
}

/** Splits an entity-tag list, respecting quotes (tags may contain commas). */
export function splitTags(header: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = header.length;
  while (i < n) {
    while (i < n && (header[i] === ' ' || header[i] === '\t' || header[i] === ',')) i++;
    if (i >= n) break;
    const start = i;
    if (header.startsWith('W/', i)) i += 2;
    if (header[i] === '"') {
      const close = header.indexOf('"', i + 1);
      i = close === -1 ? n : close + 1;
    } else {
      while (i < n && header[i] !== ',') i++;
    }
    out.push(header.slice(start, i).trim());
  }
  return out;
}

/** An HTTP date in seconds since the epoch, or NaN. */
export function parseHttpDate(value: string): number {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? NaN : Math.floor(ms / 1000);
}

export interface Validators {
  readonly etag: string;
  /** Last modification, whole seconds since the epoch (HTTP dates have no finer grain). */
  readonly mtimeSec: number;
}

export interface ConditionalHeaders {
  ifMatch: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  ifUnmodifiedSince: string | undefined;
}

/** The outcome of the preconditions for a GET/HEAD: 0 = proceed, 304 or 412. */
export function evaluatePreconditions(h: ConditionalHeaders, v: Validators): 0 | 304 | 412 {
  if (h.ifMatch !== undefined) {
    if (!matchHits(h.ifMatch, v.etag)) return 412;
  } else if (h.ifUnmodifiedSince !== undefined) {
    const t = parseHttpDate(h.ifUnmodifiedSince);
    if (!Number.isNaN(t) && v.mtimeSec > t) return 412;
  }
  if (h.ifNoneMatch !== undefined) {
    return noneMatchHits(h.ifNoneMatch, v.etag) ? 304 : 0;
  }
  if (h.ifModifiedSince !== undefined) {
    const t = parseHttpDate(h.ifModifiedSince);
    if (!Number.isNaN(t) && v.mtimeSec <= t) return 304;
  }
  return 0;
}

/** If-Range: true when the range may be honoured (the representation is unchanged). */
export function ifRangeAllows(header: string, v: Validators, lastModified: string): boolean {
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/"')) {
    // Strong comparison only; a weak tag can never validate a range.
    return !value.startsWith('W/') && !v.etag.startsWith('W/') && value === v.etag;
  }
  // A date must equal Last-Modified exactly (we only send strong-enough dates, RFC 9110 §13.1.5).
  return value === lastModified || parseHttpDate(value) === v.mtimeSec;
}
