import { RequestBody } from './body.js';
import { parseCookies } from './cookies.js';
import { HeaderMap } from './headers.js';
import { QueryMap } from './query.js';
import type { ConnectionUpgrade } from './upgrade.js';

export type Protocol = 'h1' | 'h2' | 'h3';

export interface TlsInfo {
  readonly protocol: string | null;
  readonly cipher: string | null;
  readonly servername: string | null;
  readonly alpn: string | null;
}

/**
 * The matched route as the dispatcher built it: one object per route per config version, so
 * observers (metrics) can keep per-route state on it instead of looking labels up per request.
 */
export interface RouteTag {
  readonly tenant: string | null;
  readonly site: string;
  readonly route: string;
  /** The handler module id (static, proxy, app, ...). */
  readonly handler: string;
  /** The app engine (quickjs, fengari, ...) for app routes, else null. */
  readonly engine: string | null;
  /** Free for one observer (the metrics) to cache what it resolved for this route. */
  slot: unknown;
}

/** What a request knows of the connection it came on. Shared by all requests of that connection. */
export interface ConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  readonly tls: TlsInfo | null;
}

export interface RequestInit {
  method: string;
  scheme: 'http' | 'https';
  /** Host and optional port, from :authority (h2/h3) or Host (h1). May be empty. */
  authority: string;
  /** The request target as on the wire: path plus optional "?query". */
  target: string;
  protocol: Protocol;
  headers: HeaderMap;
  body: RequestBody;
  conn: ConnectionInfo;
  /** Set by HTTP/1.1 for requests with an Upgrade header (see core/upgrade.ts). */
  upgrade?: ConnectionUpgrade | null;
  /** performance.now() of the original request, for derived requests; default: now. */
  startedAt?: number;
}

/**
 * Header changes for Request.derive(): a string sets the field (replacing every value it had),
 * null removes it. Names are case-insensitive.
 */
export type HeaderChanges = Readonly<Record<string, string | null>>;

/**
 * The protocol-neutral request every handler receives. Read-only to handlers except `params`,
 * `tenant` and `locals`, which the dispatcher and middleware fill in.
 * Everything derived (host, path, query, cookies) is computed on first use and cached.
 */
export class Request {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly authority: string;
  readonly target: string;
  readonly protocol: Protocol;
  readonly headers: HeaderMap;
  readonly body: RequestBody;
  readonly conn: ConnectionInfo;
  /** A protocol switch the client asked for (HTTP/1.1 Upgrade), or null. */
  readonly upgrade: ConnectionUpgrade | null;
  /** performance.now() (ms, monotonic) when the request head was complete; a double, unlike hrtime.bigint(), allocates nothing. */
  readonly startedAt: number;
  /** Route parameters: ":id" segments percent-decoded; "*" / "*rest" tails kept percent-encoded (they are paths to resolve). */
  params: Record<string, string> = EMPTY_PARAMS;
  /** Name of the tenant that owns the matched site, when tenants are configured. */
  tenant: string | null = null;
  /** Name of the matched route (its pattern), for logs and metrics. */
  route: string | null = null;
  /** The matched route's tag (see RouteTag), set by the dispatcher. */
  tag: RouteTag | null = null;

  #host: string | undefined;
  #queryIndex = -2;
  #query: QueryMap | undefined;
  #cookies: ReadonlyMap<string, string> | undefined;
  #locals: Map<string | symbol, unknown> | undefined;

  constructor(init: RequestInit) {
    this.method = init.method;
    this.scheme = init.scheme;
    this.authority = init.authority;
    this.target = init.target;
    this.protocol = init.protocol;
    this.headers = init.headers;
    this.body = init.body;
    this.conn = init.conn;
    this.upgrade = init.upgrade ?? null;
    this.startedAt = init.startedAt ?? performance.now();
  }

  /**
   * A copy of this request with some header fields set or removed, for layers that call an inner
   * handler with a different request (a cache revalidating with If-None-Match). The original stays
   * untouched; body, connection, upgrade, params, route and tenant are shared. Costs one pass over
   * the raw header list.
   */
  derive(changes: HeaderChanges): Request {
    const names = Object.keys(changes);
    const lower = new Set(names.map((n) => n.toLowerCase()));
    const src = this.headers.raw;
    const raw: string[] = [];
    for (let i = 0; i + 1 < src.length; i += 2) {
      if (!lower.has(src[i].toLowerCase())) raw.push(src[i], src[i + 1]);
    }
    for (const name of names) {
      const value = changes[name];
      if (value !== null) raw.push(name.toLowerCase(), value);
    }
    const derived = new Request({
      method: this.method,
      scheme: this.scheme,
      authority: this.authority,
      target: this.target,
      protocol: this.protocol,
      headers: new HeaderMap(raw),
      body: this.body,
      conn: this.conn,
      upgrade: this.upgrade,
      startedAt: this.startedAt,
    });
    derived.params = this.params;
    derived.tenant = this.tenant;
    derived.route = this.route;
    derived.tag = this.tag;
    return derived;
  }

  /** Lower-case host name without port (IPv6 literals keep their brackets). */
  get host(): string {
    if (this.#host !== undefined) return this.#host;
    const a = this.authority;
    let end = a.length;
    if (a.charCodeAt(0) === 91 /* [ */) {
      const close = a.indexOf(']');
      end = close === -1 ? a.length : close + 1;
    } else {
      const colon = a.lastIndexOf(':');
      if (colon !== -1) end = colon;
    }
    this.#host = a.slice(0, end).toLowerCase();
    return this.#host;
  }

  #qi(): number {
    if (this.#queryIndex === -2) this.#queryIndex = this.target.indexOf('?');
    return this.#queryIndex;
  }

  /** The path as sent (still percent-encoded), without the query. */
  get path(): string {
    const i = this.#qi();
    return i === -1 ? this.target : this.target.slice(0, i);
  }

  /** The raw query string without "?", or "" when there is none. */
  get rawQuery(): string {
    const i = this.#qi();
    return i === -1 ? '' : this.target.slice(i + 1);
  }

  get query(): QueryMap {
    return (this.#query ??= new QueryMap(this.rawQuery));
  }

  get cookies(): ReadonlyMap<string, string> {
    return (this.#cookies ??= parseCookies(this.headers.get('cookie')));
  }

  /** A per-request bag for middleware to pass values along. */
  get locals(): Map<string | symbol, unknown> {
    return (this.#locals ??= new Map());
  }
}

const EMPTY_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;
