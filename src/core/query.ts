/**
 * A query string (or urlencoded form) as a multi-map, parsed once.
 * Keys and values are percent-decoded with '+' as space; malformed escapes are kept verbatim
 * rather than rejected, as browsers do.
 */
export class QueryMap implements Iterable<[string, string]> {
  readonly #map: Map<string, string[]>;

  constructor(raw: string) {
    this.#map = parse(raw);
  }

  get(name: string): string | undefined {
    return this.#map.get(name)?.[0];
  }

  getAll(name: string): readonly string[] {
    return this.#map.get(name) ?? [];
  }

  has(name: string): boolean {
    return this.#map.has(name);
  }

  get size(): number {
    return this.#map.size;
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const [name, values] of this.#map) for (const v of values) yield [name, v];
  }

  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, values] of this.#map) out[name] = values.length === 1 ? values[0] : [...values];
    return out;
  }
}

function parse(raw: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  if (raw.length === 0) return map;
  let start = 0;
  while (start <= raw.length) {
    let end = raw.indexOf('&', start);
    if (end === -1) end = raw.length;
    if (end > start) {
      const eq = raw.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const key = decode(raw.slice(start, hasValue ? eq : end));
      const value = hasValue ? decode(raw.slice(eq + 1, end)) : '';
      const list = map.get(key);
      if (list === undefined) map.set(key, [value]);
      else list.push(value);
    }
    start = end + 1;
  }
  return map;
}

export function decode(s: string): string {
  if (s.indexOf('+') !== -1) s = s.replace(/\+/g, ' ');
  if (s.indexOf('%') === -1) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
