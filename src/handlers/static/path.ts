/**
 * Turns the raw (percent-encoded) request path into safe, decoded segments relative to the root.
 * Decoding happens exactly once here; everything after works on decoded names only, so
 * double-encoding ("%252e%252e") stays a literal name and cannot climb out of the root.
 */

export type ResolvedPath =
  | { readonly ok: true; readonly segments: readonly string[]; readonly trailingSlash: boolean }
  | { readonly ok: false; readonly status: 400 | 404; readonly reason: string };

export interface PathPolicy {
  /** 404 for any segment starting with "." (except ".well-known"). */
  readonly hideDotfiles: boolean;
}

const MAX_SEGMENT = 255;

function bad(reason: string): ResolvedPath {
  return { ok: false, status: 400, reason };
}

function hidden(reason: string): ResolvedPath {
  return { ok: false, status: 404, reason };
}

/** `raw` has no leading slash (a route's "*" param) or one (a whole request path); both work. */
export function resolveRequestPath(raw: string, policy: PathPolicy): ResolvedPath {
  // Backslashes are never separators, and never legitimate in a URL path: refuse them raw or encoded.
  if (raw.indexOf('\\') !== -1) return bad('backslash in path');
  if (raw.indexOf('\0') !== -1) return bad('NUL in path');
  const parts = raw.split('/');
  const segments: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (part.length === 0) continue; // leading, trailing or repeated slashes, merged as nginx does
    let name = part;
    if (part.indexOf('%') !== -1) {
      try {
        name = decodeURIComponent(part);
      } catch {
        return bad('malformed percent-encoding');
      }
      if (name.indexOf('\0') !== -1) return bad('NUL in path');
      if (name.indexOf('/') !== -1 || name.indexOf('\\') !== -1) return bad('encoded separator in path');
    }
    if (isAllDots(name)) return bad('dot segment in path');
    if (name.length > MAX_SEGMENT) return hidden('name too long');
    if (policy.hideDotfiles && name.charCodeAt(0) === 46 /* . */ && name !== '.well-known') return hidden('hidden file');
    for (let c = 0; c < name.length; c++) {
      if (name.charCodeAt(c) < 32 || name.charCodeAt(c) === 127) return bad('control character in path');
    }
    segments.push(name);
  }
  return { ok: true, segments, trailingSlash: raw.length === 0 || raw.charCodeAt(raw.length - 1) === 47 };
}

function isAllDots(name: string): boolean {
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) !== 46) return false;
  return true;
}
