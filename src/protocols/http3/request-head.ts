import { CONNECTION_SPECIFIC } from '../headers-out.js';

/** A request head that passed RFC 9114 §4.3.1 / §4.2 checks. */
export interface RequestHead {
  readonly ok: true;
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  /** Declared content-length, or null when absent. */
  readonly contentLength: number | null;
  /** Number of regular (non-pseudo) fields. */
  readonly fieldCount: number;
}

/** Why a head is malformed (answered with a stream error H3_MESSAGE_ERROR). */
export interface MalformedHead {
  readonly ok: false;
  readonly reason: string;
}

const REQUEST_PSEUDO = new Set([':method', ':scheme', ':authority', ':path']);
const DIGITS = /^[0-9]+$/;

/**
 * Checks a decoded request field section given as a flat [name, value, ...] list:
 * known pseudo-fields, each once and before regular fields; lower-case names; no
 * connection-specific fields; TE only "trailers"; :method, :scheme and :path present (CONNECT
 * excepted); content-length numeric and consistent when repeated.
 */
export function parseRequestHead(flat: readonly string[]): RequestHead | MalformedHead {
  let method = '';
  let scheme = '';
  let authority = '';
  let path = '';
  let host = '';
  let contentLength: number | null = null;
  let regular = false;
  let fieldCount = 0;
  const seen = new Set<string>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i];
    const value = flat[i + 1];
    if (name.length === 0) return bad('empty field name');
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (regular) return bad(`pseudo-header ${name} after a regular field`);
      if (!REQUEST_PSEUDO.has(name)) return bad(`unknown or response pseudo-header ${name}`);
      if (seen.has(name)) return bad(`repeated pseudo-header ${name}`);
      seen.add(name);
      if (name === ':method') method = value;
      else if (name === ':scheme') scheme = value;
      else if (name === ':authority') authority = value;
      else path = value;
      continue;
    }
    regular = true;
    fieldCount++;
    if (name !== name.toLowerCase()) return bad(`upper-case field name ${name}`);
    if (CONNECTION_SPECIFIC.has(name)) return bad(`connection-specific field ${name}`);
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') return bad('TE other than "trailers"');
    if (name === 'host' && host === '') host = value;
    if (name === 'content-length') {
      if (!DIGITS.test(value)) return bad(`invalid content-length "${value}"`);
      const n = Number(value);
      if (contentLength !== null && contentLength !== n) return bad('conflicting content-length values');
      contentLength = n;
    }
  }
  if (method === '') return bad('missing :method');
  if (method === 'CONNECT') {
    // Extended CONNECT is not advertised; a plain CONNECT carries only :method and :authority.
    if (scheme !== '' || path !== '' || authority === '') return bad('CONNECT with :scheme or :path, or without :authority');
  } else {
    if (scheme === '') return bad('missing :scheme');
    if (path === '') return bad('missing or empty :path');
  }
  // RFC 9114 §4.3.1: :authority and Host, when both present, must agree.
  if (authority !== '' && host !== '' && authority !== host) return bad(':authority and host differ');
  return { ok: true, method, scheme, authority: authority !== '' ? authority : host, path, contentLength, fieldCount };
}

function bad(reason: string): MalformedHead {
  return { ok: false, reason };
}
