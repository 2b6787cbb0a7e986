/**
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
