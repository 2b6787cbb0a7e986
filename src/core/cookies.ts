const NO_COOKIES: ReadonlyMap<string, string> = new Map();

/** Parses a Cookie header ("a=1; b=2") into a map; the first occurrence of a name wins. */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  // Most requests carry no cookie field: they share one empty map.
  if (header === undefined || header.length === 0) return NO_COOKIES;
  const map = new Map<string, string>();
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (name.length === 0 || map.has(name)) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.charCodeAt(0) === 34 && value.charCodeAt(value.length - 1) === 34) value = value.slice(1, -1);
    if (value.indexOf('%') !== -1) {
      try {
        value = decodeURIComponent(value);
      } catch {
        /* keep the raw value */
      }
    }
    map.set(name, value);
  }
  return map;
}
