import { lowerName } from './field-names.js';

/**
 * Request headers as a lower-case multi-map, built lazily from the flat
 * [name, value, name, value, ...] list every protocol layer already has
 * (Node's rawHeaders for HTTP/1.1 and HTTP/2, our QPACK decoder for HTTP/3).
 * Pseudo-headers (":path", ...) are not headers and are skipped.
 */
export class HeaderMap implements Iterable<[string, string]> {
  readonly #raw: readonly string[];
  #map: Map<string, string[]> | undefined;

  constructor(raw: readonly string[]) {
    this.#raw = raw;
  }

  static fromObject(obj: Record<string, string | readonly string[] | undefined>): HeaderMap {
    const raw: string[] = [];
    for (const name of Object.keys(obj)) {
      const v = obj[name];
      if (v === undefined) continue;
      if (typeof v === 'string') raw.push(name, v);
      else for (const item of v) raw.push(name, item);
    }
    return new HeaderMap(raw);
  }

  #build(): Map<string, string[]> {
    const map = new Map<string, string[]>();
    const raw = this.#raw;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = lowerName(raw[i]);
      if (name.charCodeAt(0) === 58 /* ':' */) continue;
      const list = map.get(name);
      if (list === undefined) map.set(name, [raw[i + 1]]);
      else list.push(raw[i + 1]);
    }
    this.#map = map;
    return map;
  }

  /** The field value; repeated fields are joined as RFC 9110 allows ("; " for cookie). */
  get(name: string): string | undefined {
    const list = (this.#map ?? this.#build()).get(name.toLowerCase());
    if (list === undefined) return undefined;
    if (list.length === 1) return list[0];
    return list.join(name.toLowerCase() === 'cookie' ? '; ' : ', ');
  }

  /** Every value of the field, in arrival order. */
  getAll(name: string): readonly string[] {
    return (this.#map ?? this.#build()).get(name.toLowerCase()) ?? [];
  }

  has(name: string): boolean {
    return (this.#map ?? this.#build()).has(name.toLowerCase());
  }

  /** Number of distinct field names. */
  get size(): number {
    return (this.#map ?? this.#build()).size;
  }

  /** The flat [name, value, ...] list as received (original case, pseudo-headers included). */
  get raw(): readonly string[] {
    return this.#raw;
  }

  keys(): IterableIterator<string> {
    return (this.#map ?? this.#build()).keys();
  }

  *[Symbol.iterator](): Iterator<[string, string]> {
    for (const [name, values] of this.#map ?? this.#build()) {
      for (const v of values) yield [name, v];
    }
  }

  /** A plain object: single values as strings, repeated ones as arrays. */
  toObject(): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    for (const [name, values] of this.#map ?? this.#build()) out[name] = values.length === 1 ? values[0] : [...values];
    return out;
  }
}
