/**
 * Syntax rules for values that JSON schema types cannot express: host names, route paths and
 * method names. Each check returns null when the value is fine, or the message to show.
 */

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
const IPV6 = /^[0-9a-f:.]+$/;

/** Lower-cases a host and puts IPv6 literals in brackets, as they appear in a Host header. */
export function normaliseHost(host: string): string {
  let name = host.trim().toLowerCase();
  if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
  if (!name.startsWith('[') && name.includes(':') && IPV6.test(name)) name = `[${name}]`;
  return name;
}

export function checkHost(host: string): string | null {
  const name = normaliseHost(host);
  if (name === '') return 'must not be empty (omit "hosts" for the default site)';
  if (name === '*') return 'invalid host "*": to match every host, omit "hosts" (the default site)';
  if (name.startsWith('[')) {
    return /^\[[0-9a-f:.]+\]$/.test(name) && name.includes(':') ? null : `invalid host ${JSON.stringify(host)}: not an IPv6 address`;
  }
  if (/:\d*$/.test(name)) return `invalid host ${JSON.stringify(host)}: hosts have no port (ports are set under "listen")`;
  if (name.includes('/')) return `invalid host ${JSON.stringify(host)}: a host name, not a URL`;
  const wildcard = name.startsWith('*.');
  const rest = wildcard ? name.slice(2) : name;
  if (rest.includes('*')) return `invalid host ${JSON.stringify(host)}: "*" is only allowed as a leading "*." (like "*.example.com")`;
  if (rest.length > 253) return `invalid host ${JSON.stringify(host)}: longer than 253 characters`;
  for (const label of rest.split('.')) {
    if (!LABEL.test(label)) return `invalid host ${JSON.stringify(host)}: use letters, digits and "-" in dot-separated labels`;
  }
  return null;
}

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Route path rules: starts with "/", ":name" for one segment, "*" or "*name" only as the last segment. */
export function checkRoutePath(path: string): string | null {
  if (!path.startsWith('/')) return `must start with "/", got ${JSON.stringify(path)}`;
  if (/[?#\s]/.test(path)) return `must be a plain path without spaces, "?" or "#", got ${JSON.stringify(path)}`;
  const segments = path.slice(1).split('/');
  const names = new Set<string>();
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    let name: string | null = null;
    if (segment.includes('*')) {
      if (!segment.startsWith('*') || segment.indexOf('*', 1) !== -1) {
        return `"*" must be a whole segment ("*" or "*name"), got ${JSON.stringify(path)}`;
      }
      if (!last) return `"*" is only allowed in the last segment, got ${JSON.stringify(path)}`;
      name = segment.slice(1);
      if (name !== '' && !PARAM_NAME.test(name)) return `invalid name "${segment}": use letters, digits and "_"`;
      if (name === '') name = null;
    } else if (segment.startsWith(':')) {
      name = segment.slice(1);
      if (!PARAM_NAME.test(name)) return `invalid parameter "${segment}": use ":" then letters, digits and "_"`;
    } else if (segment === '' && !last) {
      return `empty segment ("//") in ${JSON.stringify(path)}`;
    }
    if (name !== null) {
      if (names.has(name)) return `parameter "${name}" is used twice in ${JSON.stringify(path)}`;
      names.add(name);
    }
  }
  return null;
}

// RFC 9110 token characters.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function checkMethod(method: string): string | null {
  return TOKEN.test(method) ? null : `invalid method ${JSON.stringify(method)}`;
}
