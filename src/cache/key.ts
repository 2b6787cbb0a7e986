import type { Request } from '../core/request.js';

/** Builds the primary cache key of a request. */
export type KeyFunction = (req: Request) => string;

export const DEFAULT_KEY = '{scheme}://{host}{uri}';

type Part = string | ((req: Request) => string);

/**
 * Compiles a key template: literal text plus `{scheme}`, `{host}`, `{method}`, `{uri}` (path and
 * query as sent), `{path}`, `{query}`, `{header:name}` and `{cookie:name}`. Throws an Error with a
 * message meant for people on an unknown placeholder.
 */
export function compileKey(template: string): KeyFunction {
  if (template === DEFAULT_KEY) return (req) => req.scheme + '://' + req.host + req.target;
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open === -1) {
      parts.push(template.slice(i));
      break;
    }
    if (open > i) parts.push(template.slice(i, open));
    const close = template.indexOf('}', open);
    if (close === -1) throw new Error(`unclosed "{" at position ${open + 1} of the key template`);
    parts.push(placeholder(template.slice(open + 1, close)));
    i = close + 1;
  }
  if (parts.length === 0) throw new Error('the key template is empty');
  return (req) => {
    let key = '';
    for (let p = 0; p < parts.length; p++) {
      const part = parts[p];
      key += typeof part === 'string' ? part : part(req);
    }
    return key;
  };
}

function placeholder(name: string): (req: Request) => string {
  switch (name) {
    case 'scheme':
      return (req) => req.scheme;
    case 'host':
      return (req) => req.host;
    case 'method':
      return (req) => req.method;
    case 'uri':
      return (req) => req.target;
    case 'path':
      return (req) => req.path;
    case 'query':
      return (req) => req.rawQuery;
  }
  if (name.startsWith('header:') && name.length > 7) {
    const field = name.slice(7).toLowerCase();
    return (req) => req.headers.get(field) ?? '';
  }
  if (name.startsWith('cookie:') && name.length > 7) {
    const cookie = name.slice(7);
    return (req) => req.cookies.get(cookie) ?? '';
  }
  throw new Error(`unknown placeholder "{${name}}" in the key template (known: {scheme} {host} {method} {uri} {path} {query} {header:name} {cookie:name})`);
}

/** The variant part of a key: the request's values of the fields the response varies on. */
export function varyValues(req: Request, names: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    const v = req.headers.get(names[i]);
    // Whitespace around commas carries no meaning (RFC 9111 §4.1): "gzip,br" and "gzip, br" match.
    out += (i === 0 ? '' : '\u0000') + (v === undefined ? '\u0001' : v.replace(/\s*,\s*/g, ',').trim());
  }
  return out;
}

export function variantKey(primary: string, markerId: string, values: string): string {
  return primary + '\n' + markerId + '\n' + values;
}
