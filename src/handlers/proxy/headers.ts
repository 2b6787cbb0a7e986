import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { connectionTokens, lowerName } from '../../core/field-names.js';
import type { Request } from '../../core/request.js';
import type { ResponseHeaders } from '../../core/response.js';

/** Hop-by-hop fields (RFC 9110 §7.6.1) plus the legacy ones proxies also drop; never forwarded. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Fields we set ourselves on the way to the upstream; the client's copies are replaced or extended. */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via', 'host']);

/**
 * Request fields that concern only the client-to-us hop besides the hop-by-hop ones: node:http has
 * already answered `Expect: 100-continue` (and undici refuses to send Expect).
 */
const CLIENT_ONLY = new Set(['expect']);

/** Which client addresses may tell us who the original client was (their X-Forwarded-* and Forwarded are kept). */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly #any: boolean;

  constructor(cidrs: readonly string[]) {
    this.#any = cidrs.length > 0;
    for (const cidr of cidrs) {
      const [address, bits] = cidr.split('/');
      const type = isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(address, type);
      else this.#list.addSubnet(address, Number(bits), type);
    }
  }

  /** A message when `cidr` is not an address or address/prefix, else null. */
  static check(cidr: string): string | null {
    const [address, bits, extra] = cidr.split('/');
    if (extra !== undefined) return `"${cidr}" is not an address or CIDR range`;
    const v4 = isIPv4(address);
    if (!v4 && !isIPv6(address)) return `"${cidr}" is not an IP address or CIDR range (e.g. 10.0.0.0/8, fd00::/8)`;
    if (bits !== undefined) {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (v4 ? 32 : 128)) return `"${cidr}" has an invalid prefix length`;
    }
    return null;
  }

  trusts(address: string): boolean {
    if (!this.#any || address === '') return false;
    return this.#list.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
  }
}

export interface ForwardingOptions {
  readonly trusted: TrustedProxies;
  readonly xForwarded: boolean;
  readonly forwarded: boolean;
  /** The Via value ("1.1 anomaly"), or null to send none. */
  readonly via: string | null;
  /** Host sent upstream: null keeps the client's; a string replaces it. */
  readonly host: string | null;
  /** Send each target's own host:port as Host (host: upstream); the caller fills it in per target. */
  readonly hostFromTarget: boolean;
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly add: ReadonlyArray<readonly [string, string]>;
  readonly remove: ReadonlySet<string>;
}

/** RFC 7239 node: IPv6 addresses are bracketed and quoted. */
function forwardedNode(address: string): string {
  return address.includes(':') ? `"[${address}]"` : address;
}

function forwardedValue(v: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The header list sent upstream, flat [name, value, ...]: the client's fields minus hop-by-hop
 * ones, with X-Forwarded-*, Forwarded and Via added. The client's forwarding fields are kept only
 * when it is a trusted proxy; otherwise they could be forged.
 */
export function upstreamRequestHeaders(req: Request, opts: ForwardingOptions, wantUpgrade: boolean): string[] {
  const raw = req.headers.raw;
  // Straight from the raw list: HeaderMap.get() would build a map this hot path does not need.
  let connection: string | undefined;
  let upgrade: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 10 && n.toLowerCase() === 'connection') connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
    else if (n.length === 7 && n.toLowerCase() === 'upgrade') upgrade = raw[i + 1];
  }
  const extraHop = connectionTokens(connection);
  const trusted = opts.trusted.trusts(req.conn.remoteAddress);
  // Host first: its index is fixed (1), so a per-target Host can be patched in without a rebuild.
  const out: string[] = ['host', opts.host ?? req.authority];
  let xff: string | undefined;
  let fwd: string | undefined;
  let xfProto: string | undefined;
  let xfHost: string | undefined;
  let via: string | undefined;
  let cookie: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lowerName(raw[i]);
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58 /* : */) continue;
    // "upgrade" is hop-by-hop, but WebSocket pass-through sends it again (below) with Connection.
    if (HOP_BY_HOP.has(name) || CLIENT_ONLY.has(name) || (extraHop !== null && extraHop.has(name)) || opts.remove.has(name)) continue;
    if (name === 'cookie' && req.protocol !== 'h1') {
      // HTTP/2 and HTTP/3 may split Cookie into several fields; HTTP/1.1 wants one (RFC 9113 §8.2.3).
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (FORWARDING.has(name)) {
      if (name === 'via') via = via === undefined ? value : `${via}, ${value}`;
      else if (!trusted || name === 'host') continue;
      else if (name === 'x-forwarded-for') xff = xff === undefined ? value : `${xff}, ${value}`;
      else if (name === 'forwarded') fwd = fwd === undefined ? value : `${fwd}, ${value}`;
      else if (name === 'x-forwarded-proto') xfProto ??= value;
      else if (name === 'x-forwarded-host') xfHost ??= value;
      continue;
    }
    out.push(name, value);
  }
  if (cookie !== undefined) out.push('cookie', cookie);
  const client = req.conn.remoteAddress;
  const host = req.authority;
  if (opts.xForwarded) {
    out.push('x-forwarded-for', xff === undefined ? client : `${xff}, ${client}`);
    out.push('x-forwarded-proto', xfProto ?? req.scheme);
    if (host !== '') out.push('x-forwarded-host', xfHost ?? host);
  }
  if (opts.forwarded) {
    let element = `for=${forwardedNode(client)}`;
    if (host !== '') element += `;host=${forwardedValue(host)}`;
    element += `;proto=${req.scheme}`;
    out.push('forwarded', fwd === undefined ? element : `${fwd}, ${element}`);
  }
  if (opts.via !== null) out.push('via', via === undefined ? opts.via : `${via}, ${opts.via}`);
  if (wantUpgrade && upgrade !== undefined) out.push('connection', 'upgrade', 'upgrade', upgrade);
  for (const [name, value] of opts.set) {
    // Replace the first in place (keeps host at index 1), drop any later copies.
    let found = false;
    for (let i = 0; i < out.length; i += 2) {
      if (out[i] !== name) continue;
      if (!found) {
        out[i + 1] = value;
        found = true;
      } else {
        out.splice(i, 2);
        i -= 2;
      }
    }
    if (!found) out.push(name, value);
  }
  for (const [name, value] of opts.add) out.push(name, value);
  return out;
}

export interface ResponseRules {
  readonly via: string | null;
  readonly set: ReadonlyArray<readonly [string, string]>;
  readonly remove: ReadonlySet<string>;
}

/** The upstream's response fields minus hop-by-hop ones, with Via and the configured rewrites. */
export function clientResponseHeaders(upstream: Record<string, string | string[] | undefined>, rules: ResponseRules): ResponseHeaders {
  const extraHop = connectionTokens(upstream.connection);
  const out: ResponseHeaders = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || HOP_BY_HOP.has(name) || (extraHop !== null && extraHop.has(name))) continue;
    out[name] = value;
  }
  return applyResponseRules(out, rules);
}

/** Adds Via and applies the configured set/remove to response headers the proxy owns (mutated in place). */
export function applyResponseRules(out: ResponseHeaders, rules: ResponseRules): ResponseHeaders {
  if (rules.remove.size > 0) for (const name of rules.remove) delete out[name];
  if (rules.via !== null) {
    const prev = out.via;
    out.via = prev === undefined ? rules.via : `${Array.isArray(prev) ? prev.join(', ') : prev}, ${rules.via}`;
  }
  for (const [name, value] of rules.set) out[name] = value;
  return out;
}
