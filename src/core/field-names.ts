/**
 * Field-name and field-line helpers shared by the HTTP/1.1 parsers, the proxy and the upstream client.
 *
 * Lower-case field names. The names most requests and answers carry come back as constants:
 * no new string per field, and already internalized, so using one as an object key or Set entry
 * costs no string-table lookup. Any other name is lower-cased as usual.
 */

/** Canonical spellings (as clients and upstreams send them) of common fields, by length. */
const COMMON: ReadonlyArray<ReadonlyArray<readonly [string, string]>> = (() => {
  const names = [
    'Host', 'Date', 'Vary', 'ETag', 'Etag', 'Accept', 'Cookie', 'Origin', 'Server', 'Expires', 'Referer', 'Upgrade',
    'Location', 'Connection', 'Keep-Alive', 'Set-Cookie', 'User-Agent', 'Content-Type', 'Authorization',
    'Cache-Control', 'Last-Modified', 'Accept-Ranges', 'If-None-Match', 'Content-Length', 'Accept-Encoding',
    'Accept-Language', 'X-Forwarded-For', 'Content-Encoding', 'Transfer-Encoding', 'If-Modified-Since',
    'X-Forwarded-Host', 'X-Forwarded-Proto',
  ];
  const byLength: Array<Array<readonly [string, string]>> = [];
  // Both the canonical and the lower-case spelling (HTTP/2, curl's own fields, most proxies).
  for (const name of names) {
    const lower = name.toLowerCase();
    (byLength[name.length] ??= []).push([name, lower]);
    if (!names.includes(lower) && !byLength[name.length].some(([n]) => n === lower)) byLength[name.length].push([lower, lower]);
  }
  return Array.from(byLength, (list) => list ?? []);
})();

export function lowerName(name: string): string {
  const candidates = COMMON[name.length];
  if (candidates !== undefined) {
    for (let i = 0; i < candidates.length; i++) if (candidates[i][0] === name) return candidates[i][1];
  }
  return name.toLowerCase();
}

/** 1 for the token characters of a field name (RFC 9110 §5.6.2). */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

const isBlank = (c: number): boolean => c === 32 || c === 9;
/** A field value may not hold CR, LF, NUL or other controls (HTAB aside); obs-text (0x80-0xff) is allowed. */
const isFieldChar = (c: number): boolean => (c >= 32 && c !== 127) || c === 9;

/** Where scanField() found the parts of a line; reused by every call (the parsers are synchronous). */
export interface FieldSpan {
  /** Index of the ":" (the name is [line start, colon)). */
  colon: number;
  /** The value without surrounding whitespace: [from, to). */
  from: number;
  to: number;
}

export const fieldSpan: FieldSpan = { colon: 0, from: 0, to: 0 };

/**
 * Scans the field line text[pos, eol) (a latin1 head, eol at its CRLF) as token ":" OWS value OWS,
 * by hand rather than with a sticky regex: a third less time and no match array per field. Fills
 * fieldSpan and returns true, or returns false when the line is not a valid field.
 */
export function scanField(text: string, pos: number, eol: number): boolean {
  let colon = pos;
  while (colon < eol && TCHAR[text.charCodeAt(colon)] === 1) colon++;
  if (colon === pos || colon === eol || text.charCodeAt(colon) !== 58 /* : */) return false;
  let from = colon + 1;
  let to = eol;
  while (from < to && isBlank(text.charCodeAt(from))) from++;
  while (to > from && isBlank(text.charCodeAt(to - 1))) to--;
  for (let i = from; i < to; i++) if (!isFieldChar(text.charCodeAt(i))) return false;
  fieldSpan.colon = colon;
  fieldSpan.from = from;
  fieldSpan.to = to;
  return true;
}

/** A Connection value that names no field besides the connection options: nothing to drop. */
const PLAIN_CONNECTION = /^[\t ]*(?:keep-alive|close)[\t ]*$/i;

/**
 * Extra names the Connection field declares hop-by-hop ("Connection: close, x-foo"), lower-cased,
 * or null when there are none. The usual whole value ("keep-alive", "close") is answered without a split.
 */
export function connectionTokens(value: string | string[] | undefined): Set<string> | null {
  if (value === undefined) return null;
  const text = Array.isArray(value) ? value.join(',') : value;
  if (PLAIN_CONNECTION.test(text)) return null;
  let out: Set<string> | null = null;
  for (const part of text.split(',')) {
    const token = part.trim().toLowerCase();
    if (token === '' || token === 'close' || token === 'keep-alive') continue;
    (out ??= new Set()).add(token);
  }
  return out;
}
