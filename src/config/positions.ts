import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

/** A segment of a path into the config data: a map key or a list index. */
export type PathSegment = string | number;

export interface SourcePosition {
  readonly line: number;
  readonly column: number;
}

/**
 * Maps paths into the parsed data back to where they were written. A field points at its key
 * (`tls:` rather than the value after it), a list item at the item itself. When a path cannot be
 * followed to the end (merge keys, aliases), the deepest node reached is used.
 */
export class SourcePositions {
  readonly #doc: Document;
  readonly #lines: LineCounter;

  constructor(doc: Document, lines: LineCounter) {
    this.#doc = doc;
    this.#lines = lines;
  }

  /** Where the field at `path` is written. */
  field(path: readonly PathSegment[]): SourcePosition {
    return this.#at(this.#walk(path));
  }

  /** Where the key `key` of the map at `path` is written (for unknown keys). */
  key(path: readonly PathSegment[], key: string): SourcePosition {
    return this.#at(this.#walk([...path, key]));
  }

  /** Where the node at `path` itself starts (a list item, a map value). */
  node(path: readonly PathSegment[]): SourcePosition {
    const found = this.#walk(path);
    return this.#at(found.complete ? { node: found.node, key: null, complete: true } : found);
  }

  /** Position of a byte offset in the source. */
  offset(offset: number): SourcePosition {
    const { line, col } = this.#lines.linePos(offset);
    return { line, column: col };
  }

  #at(found: Walked): SourcePosition {
    const target = found.key ?? found.node;
    const start = target?.range?.[0];
    return this.offset(typeof start === 'number' ? start : 0);
  }

  #walk(path: readonly PathSegment[]): Walked {
    let node: Node | null = this.#doc.contents;
    let key: Node | null = null;
    for (const segment of path) {
      const container = this.#resolve(node);
      let next: { node: Node | null; key: Node | null } | null = null;
      if (isMap(container)) next = this.#findInMap(container.items, String(segment));
      else if (isSeq(container) && typeof segment === 'number') {
        const item = container.items[segment];
        next = item === undefined ? null : { node: item as Node | null, key: null };
      }
      if (next === null) return { node, key, complete: false };
      node = next.node;
      key = next.key;
    }
    return { node, key, complete: true };
  }

  #findInMap(items: readonly unknown[], name: string): { node: Node | null; key: Node | null } | null {
    for (const pair of items) {
      if (isPair(pair) && keyName(pair.key) === name) return { node: pair.value as Node | null, key: pair.key as Node | null };
    }
    // YAML merge keys ("<<: *defaults"): the field is written where the merged map is.
    for (const pair of items) {
      if (!isPair(pair) || keyName(pair.key) !== '<<') continue;
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const source of sources) {
        const map = this.#resolve(source as Node | null);
        if (isMap(map)) {
          const found = this.#findInMap(map.items, name);
          if (found !== null) return found;
        }
      }
    }
    return null;
  }

  #resolve(node: Node | null): Node | null {
    if (isAlias(node)) return (node.resolve(this.#doc) as Node | undefined) ?? null;
    return node;
  }
}

interface Walked {
  node: Node | null;
  key: Node | null;
  complete: boolean;
}

function keyName(key: unknown): string | null {
  // With merge keys on, yaml gives "<<" a symbol value.
  if (isScalar(key)) return typeof key.value === 'symbol' ? '<<' : String(key.value);
  return typeof key === 'string' ? key : null;
}
