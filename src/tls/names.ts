import { isIP } from 'node:net';

/** A subjectAltName entry as certificates carry it. */
export interface SanName {
  readonly type: 'dns' | 'ip';
  readonly value: string;
}

/**
 * Canonical form of a host name for certificates and SNI lookups: lower case, no trailing dot,
 * IPv6 without brackets and in its shortest form (so "0:0::1" and "::1" are the same name).
 */
export function normalizeHostname(name: string): string {
  let n = name.trim().toLowerCase();
  if (n.startsWith('[') && n.endsWith(']')) n = n.slice(1, -1);
  if (n.endsWith('.') && isIP(n) === 0) n = n.slice(0, -1);
  if (isIP(n) === 6) n = new URL(`http://[${n}]/`).hostname.slice(1, -1);
  return n;
}

/** Classifies a (normalized) host name as a DNS or IP subjectAltName. */
export function sanFor(name: string): SanName {
  const n = normalizeHostname(name);
  return { type: isIP(n) === 0 ? 'dns' : 'ip', value: n };
}

/** Sorted, de-duplicated, normalized names: the identity of a certificate's name set. */
export function canonicalNameSet(names: readonly string[]): string[] {
  return [...new Set(names.map(normalizeHostname))].filter((n) => n !== '').sort();
}

/** "*.example.com" -> "example.com"; null for anything that is not a one-label wildcard. */
export function wildcardBase(name: string): string | null {
  return name.startsWith('*.') && name.length > 2 ? name.slice(2) : null;
}

/**
 * The wildcard base a server name could match: "a.example.com" -> "example.com".
 * A wildcard covers exactly one label, so only the parent of the whole name can match.
 */
export function parentDomain(name: string): string | null {
  const dot = name.indexOf('.');
  return dot > 0 && dot < name.length - 1 ? name.slice(dot + 1) : null;
}
