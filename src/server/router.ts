import type { Handler } from '../core/handler.js';
import type { RouteTag } from '../core/request.js';

/** A compiled route: the pattern from config, its methods, and the handler chain to run. */
export interface Route {
  readonly pattern: string;
  /** Upper-case methods, or null for any. HEAD is allowed wherever GET is. */
  readonly methods: ReadonlySet<string> | null;
  readonly handler: Handler;
  /** Set on the request when the route matches (observers: metrics). */
  readonly tag?: RouteTag;
}

export type RouteLookup =
  | { readonly kind: 'found'; readonly route: Route; readonly params: Record<string, string> }
  | { readonly kind: 'method-not-allowed'; readonly allow: string }
  | { readonly kind: 'not-found' };

type Matcher = (path: string) => Record<string, string> | null;

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
const NOT_FOUND: RouteLookup = { kind: 'not-found' };

/**
 * Ordered routes, first match wins (like nginx regex locations and Caddy's route order).
 * Patterns: "/exact", "/users/:id" (one segment, percent-decoded), "/static/*" or "/files/*rest"
 * (the rest of the path, kept percent-encoded since it is usually a path to resolve).
 */
export class Router {
  readonly #entries: Array<{ route: Route; match: Matcher }> = [];

  constructor(routes: readonly Route[]) {
    for (const route of routes) this.#entries.push({ route, match: compilePattern(route.pattern) });
  }

  lookup(method: string, path: string): RouteLookup {
    let allowed: Set<string> | null = null;
    for (let i = 0; i < this.#entries.length; i++) {
      const { route, match } = this.#entries[i];
      const params = match(path);
      if (params === null) continue;
      const methods = route.methods;
      if (methods === null || methods.has(method) || (method === 'HEAD' && methods.has('GET'))) {
        return { kind: 'found', route, params };
      }
      allowed ??= new Set();
      for (const m of methods) allowed.add(m);
      if (methods.has('GET')) allowed.add('HEAD');
    }
    if (allowed === null) return NOT_FOUND;
    return { kind: 'method-not-allowed', allow: [...allowed].join(', ') };
  }
}

export function compilePattern(pattern: string): Matcher {
  const segments = pattern.split('/').slice(1);
  const last = segments[segments.length - 1] ?? '';
  const restName = last.startsWith('*') ? (last.length > 1 ? last.slice(1) : '*') : null;
  const fixed = restName === null ? segments : segments.slice(0, -1);
  const hasParams = fixed.some((s) => s.startsWith(':'));

  if (restName === null && !hasParams) {
    return (path) => (path === pattern ? NO_PARAMS : null);
  }
  if (!hasParams) {
    // Prefix: "/static/*" matches "/static", "/static/" and below. "/*" matches everything.
    const prefix = fixed.length === 0 ? '' : '/' + fixed.join('/');
    const plen = prefix.length;
    return (path) => {
      if (path.length === plen) return path === prefix ? { [restName as string]: '' } : null;
      if (path.charCodeAt(plen) !== 47 /* / */ || !path.startsWith(prefix)) return null;
      return { [restName as string]: path.slice(plen + 1) };
    };
  }
  return (path) => {
    const parts = path.split('/');
    // parts[0] is the empty string before the leading slash.
    if (restName === null ? parts.length - 1 !== fixed.length : parts.length - 1 < fixed.length) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < fixed.length; i++) {
      const seg = fixed[i];
      const actual = parts[i + 1];
      if (seg.charCodeAt(0) === 58 /* : */) {
        if (actual.length === 0) return null;
        params[seg.slice(1)] = decodeSegment(actual);
      } else if (seg !== actual) {
        return null;
      }
    }
    if (restName !== null) params[restName] = parts.slice(fixed.length + 1).join('/');
    return params;
  };
}

function decodeSegment(s: string): string {
  if (s.indexOf('%') === -1) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
