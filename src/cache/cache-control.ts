/**
 * Cache-Control parsing (RFC 9111 §5.2). Only the directives a shared cache acts on are kept;
 * unknown ones are ignored as the RFC asks. Durations are in seconds; a malformed or negative
 * delta-seconds makes the directive count as present with value 0 (the safe reading).
 */
export interface CacheDirectives {
  maxAge: number | null;
  sMaxAge: number | null;
  noStore: boolean;
  noCache: boolean;
  private: boolean;
  public: boolean;
  mustRevalidate: boolean;
  proxyRevalidate: boolean;
  staleWhileRevalidate: number | null;
  staleIfError: number | null;
  /** Request only. */
  maxStale: number | null;
  minFresh: number | null;
  onlyIfCached: boolean;
}

function empty(): CacheDirectives {
  return {
    maxAge: null,
    sMaxAge: null,
    noStore: false,
    noCache: false,
    private: false,
    public: false,
    mustRevalidate: false,
    proxyRevalidate: false,
    staleWhileRevalidate: null,
    staleIfError: null,
    maxStale: null,
    minFresh: null,
    onlyIfCached: false,
  };
}

export const NO_DIRECTIVES: Readonly<CacheDirectives> = Object.freeze(empty());

/** delta-seconds: digits only; anything else (including negatives) reads as 0. Huge values clamp (RFC 9111 §1.2.2). */
function seconds(value: string | undefined): number {
  if (value === undefined || value === '' || !/^\d+$/.test(value)) return 0;
  const n = Number(value);
  return n > 2147483648 ? 2147483648 : n;
}

/** Parses one or more Cache-Control field values (already joined with ", "). */
export function parseCacheControl(value: string | readonly string[] | undefined): Readonly<CacheDirectives> {
  if (value === undefined) return NO_DIRECTIVES;
  const text = typeof value === 'string' ? value : value.join(',');
  if (text === '') return NO_DIRECTIVES;
  const d = empty();
  // Split on commas outside quotes (no-cache="a, b" is one directive).
  let i = 0;
  const n = text.length;
  while (i < n) {
    let j = i;
    let quoted = false;
    while (j < n) {
      const c = text.charCodeAt(j);
      if (c === 34 /* " */) quoted = !quoted;
      else if (c === 44 /* , */ && !quoted) break;
      j++;
    }
    const part = text.slice(i, j).trim();
    i = j + 1;
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
    let arg: string | undefined = eq === -1 ? undefined : part.slice(eq + 1).trim();
    if (arg !== undefined && arg.length >= 2 && arg.startsWith('"') && arg.endsWith('"')) arg = arg.slice(1, -1);
    switch (name) {
      case 'max-age':
        d.maxAge = seconds(arg);
        break;
      case 's-maxage':
        d.sMaxAge = seconds(arg);
        break;
      case 'no-store':
        d.noStore = true;
        break;
      // The qualified forms (no-cache="field", private="field") are treated as unqualified:
      // stricter than needed, never wrong.
      case 'no-cache':
        d.noCache = true;
        break;
      case 'private':
        d.private = true;
        break;
      case 'public':
        d.public = true;
        break;
      case 'must-revalidate':
        d.mustRevalidate = true;
        break;
      case 'proxy-revalidate':
        d.proxyRevalidate = true;
        break;
      case 'stale-while-revalidate':
        d.staleWhileRevalidate = seconds(arg);
        break;
      case 'stale-if-error':
        d.staleIfError = seconds(arg);
        break;
      case 'max-stale':
        // Without a value: any staleness is acceptable.
        d.maxStale = arg === undefined ? Infinity : seconds(arg);
        break;
      case 'min-fresh':
        d.minFresh = seconds(arg);
        break;
      case 'only-if-cached':
        d.onlyIfCached = true;
        break;
    }
  }
  return d;
}
