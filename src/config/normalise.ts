import { availableParallelism, homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import type { LocatedProblem } from './ajv-problems.js';
import type { PathSegment, SourcePositions } from './positions.js';
import { adminProblems, normaliseAdmin } from '../admin/config.js';
import { normaliseTracing } from '../observe/tracing/config.js';
import { applyTenants, normaliseRateLimitStore, normaliseRouteRateLimit, rateLimitStoreProblems, tenantProblems } from '../tenants/config.js';
import { cacheProblems, normaliseRouteCache, normaliseZones, type CacheZoneConfig } from './cache.js';
import { normaliseHost } from './rules.js';
import type { Limits, LogConfig, RouteConfig, ServerConfig, SiteConfig } from './types.js';
import { parseDuration, parseSize } from './units.js';

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxBody: 10 * 1024 * 1024,
  maxHeaderSize: 16 * 1024,
  maxHeaders: 100,
  maxUri: 8 * 1024,
  maxConnectionsPerIp: 0,
  maxRequestsPerConnection: 0,
  headerTimeout: 10_000,
  requestTimeout: 60_000,
  idleTimeout: 60_000,
  drainTimeout: 10_000,
});

export const DEFAULT_TLS_PORT = 8443;

/** Where paths and defaults come from while normalising. */
export interface NormaliseContext {
  readonly file: string;
  readonly source: string | null;
  readonly baseDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly homeDir: string;
}

type Raw = Record<string, unknown>;

const isMap = (value: unknown): value is Raw => value !== null && typeof value === 'object' && !Array.isArray(value);
const mapsOf = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/**
 * Rules that span several fields, which the schema cannot express: a route has exactly one
 * handler key, a host belongs to one site, there is at most one default site, and the listener
 * has at least one port. Runs on unvalidated data, so it only looks at values of the right shape.
 */
export function crossFieldProblems(data: unknown, handlerIds: readonly string[], positions: SourcePositions, earlier: readonly LocatedProblem[]): LocatedProblem[] {
  const problems: LocatedProblem[] = [];
  const add = (path: PathSegment[], message: string, at = positions.field(path)) => problems.push({ path, at, message });
  if (!isMap(data)) return problems;

  const listen = data.listen;
  if (isMap(listen)) {
    const plain = listen.plain;
    if (listen.tls === false && (plain === undefined || plain === null || plain === false)) {
      add(['listen', 'tls'], 'TLS is turned off, so listen.plain must be set to a port (otherwise nothing listens)');
    } else if (typeof listen.tls === 'number' && listen.tls !== 0 && listen.tls === plain) {
      add(['listen', 'plain'], `same port as listen.tls (${listen.tls})`);
    }
  }

  const hostOwner = new Map<string, number>();
  let defaultSite: number | null = null;
  const sites = mapsOf(data.sites);
  const idList = handlerIds.join(', ');
  for (let s = 0; s < sites.length; s++) {
    const site = sites[s];
    if (!isMap(site)) continue;
    if (site.hosts === undefined) {
      if (defaultSite === null) defaultSite = s;
      else add(['sites', s], `a second default site (no "hosts"): sites[${defaultSite}] is already the default`, positions.node(['sites', s]));
    }
    const hosts = mapsOf(site.hosts);
    for (let h = 0; h < hosts.length; h++) {
      const host = hosts[h];
      if (typeof host !== 'string') continue;
      const name = normaliseHost(host);
      const owner = hostOwner.get(name);
      if (owner === undefined) hostOwner.set(name, s);
      else add(['sites', s, 'hosts', h], owner === s ? `host "${name}" is listed twice in this site` : `duplicate host "${name}": sites[${owner}] already has it`);
    }
    const routes = mapsOf(site.routes);
    for (let r = 0; r < routes.length; r++) {
      const route = routes[r];
      if (!isMap(route)) continue;
      const path: PathSegment[] = ['sites', s, 'routes', r];
      const handlers = Object.keys(route).filter((key) => handlerIds.includes(key));
      if (handlers.length > 1) {
        add(path, `more than one handler (${handlers.join(', ')}): a route has exactly one of ${idList}`, positions.key(path, handlers[1]));
      } else if (handlers.length === 0) {
        // An unknown key is most likely the misspelt handler: that problem is already reported.
        const misspelt = earlier.some((p) => p.unknownKey !== undefined && samePath(p.path, path));
        if (!misspelt) add(path, `no handler: a route needs one of ${idList}`, positions.node(path));
      }
    }
  }
  problems.push(...cacheProblems(data, positions));
  for (const message of adminProblems(data.admin)) add(['admin'], message);
  for (const p of tenantProblems(data)) add(p.path, p.message);
  for (const message of rateLimitStoreProblems(data.rate_limits)) add(['rate_limits'], message);
  return problems;
}

function samePath(a: readonly PathSegment[], b: readonly PathSegment[]): boolean {
  return a.length === b.length && a.every((segment, i) => segment === b[i]);
}

/** Builds the ServerConfig from data that passed validation and the cross-field rules. */
export function normalise(data: Raw, handlerIds: readonly string[], positions: SourcePositions, ctx: NormaliseContext): ServerConfig {
  const listen = isMap(data.listen) ? data.listen : {};
  const log = isMap(data.log) ? data.log : {};
  const limits = mergeLimits(DEFAULT_LIMITS, data.limits);
  const storage = typeof data.storage === 'string' ? resolvePath(data.storage, ctx) : defaultStorage(ctx);
  const zones = normaliseZones(data, storage, (p) => resolvePath(p, ctx));
  const caches: CacheSetup = { zones, storage };
  const sites: SiteConfig[] = mapsOf(data.sites).map((raw, s) => normaliseSite(raw as Raw, s, limits, handlerIds, positions, ctx, caches));
  const tenants = applyTenants(data, sites);
  return {
    source: ctx.source,
    baseDir: ctx.baseDir,
    listen: {
      tls: listen.tls === false ? null : typeof listen.tls === 'number' ? listen.tls : DEFAULT_TLS_PORT,
      plain: typeof listen.plain === 'number' ? listen.plain : null,
      address: typeof listen.address === 'string' ? listen.address : '::',
      http3: listen.http3 !== false,
    },
    storage,
    workers: data.workers === 'auto' || data.workers === undefined ? availableParallelism() : (data.workers as number),
    workerAccept: data.worker_accept === 'kernel' ? 'kernel' : 'round-robin',
    log: {
      level: (log.level as LogConfig['level'] | undefined) ?? 'info',
      format: (log.format as LogConfig['format'] | undefined) ?? 'auto',
      access: typeof log.access === 'boolean' ? log.access : true,
    },
    limits,
    caches: [...zones.values()],
    sites,
    admin: normaliseAdmin(data.admin),
    tenants,
    rateLimits: normaliseRateLimitStore(data.rate_limits),
    tracing: normaliseTracing(data.tracing),
  };
}

interface CacheSetup {
  readonly zones: ReadonlyMap<string, CacheZoneConfig>;
  readonly storage: string;
}

function normaliseSite(
  site: Raw,
  index: number,
  serverLimits: Limits,
  handlerIds: readonly string[],
  positions: SourcePositions,
  ctx: NormaliseContext,
  caches: CacheSetup,
): SiteConfig {
  const hosts = mapsOf(site.hosts).map((h) => normaliseHost(String(h)));
  const tls = isMap(site.tls) ? { cert: resolvePath(String(site.tls.cert), ctx), key: resolvePath(String(site.tls.key), ctx) } : null;
  const routes: RouteConfig[] = mapsOf(site.routes).map((raw, r) => {
    const route = raw as Raw;
    const module = Object.keys(route).find((key) => handlerIds.includes(key)) as string;
    const methods = Array.isArray(route.methods) ? [...new Set(route.methods.map((m) => String(m).toUpperCase()))] : null;
    const where = `${ctx.file}:${positions.node(['sites', index, 'routes', r]).line}`;
    return {
      path: typeof route.path === 'string' ? route.path : '/*',
      methods,
      module,
      config: route[module],
      where,
      cache: normaliseRouteCache(route.cache, where, caches.zones, caches.storage, (p) => resolvePath(p, ctx)),
      // Only on routes that have one: routes without stay the shape they always had.
      ...(route.rate_limit !== undefined ? { rateLimit: normaliseRouteRateLimit(route.rate_limit) } : {}),
    };
  });
  return { name: hosts[0] ?? 'default', hosts, tls, limits: mergeLimits(serverLimits, site.limits), ...(site.hsts !== undefined ? { hsts: hstsValue(site.hsts) } : {}), routes };
}

/** `hsts: 365d` or `{ max_age, include_subdomains, preload }` -> the header value. */
function hstsValue(raw: unknown): string {
  const spec = isMap(raw) ? raw : { max_age: raw };
  let value = `max-age=${Math.floor(parseDuration(spec.max_age as string | number) / 1000)}`;
  if (spec.include_subdomains === true) value += '; includeSubDomains';
  if (spec.preload === true) value += '; preload';
  return value;
}

function mergeLimits(base: Readonly<Limits>, raw: unknown): Limits {
  const limits: Limits = { ...base };
  if (!isMap(raw)) return limits;
  const size = (v: unknown, fallback: number) => (v === undefined ? fallback : parseSize(v as string | number));
  const duration = (v: unknown, fallback: number) => (v === undefined ? fallback : parseDuration(v as string | number));
  limits.maxBody = size(raw.max_body, base.maxBody);
  limits.maxHeaderSize = size(raw.max_header_size, base.maxHeaderSize);
  limits.maxHeaders = typeof raw.max_headers === 'number' ? raw.max_headers : base.maxHeaders;
  limits.maxUri = size(raw.max_uri, base.maxUri);
  limits.maxConnectionsPerIp = typeof raw.max_connections_per_ip === 'number' ? raw.max_connections_per_ip : base.maxConnectionsPerIp;
  limits.maxRequestsPerConnection = typeof raw.max_requests_per_connection === 'number' ? raw.max_requests_per_connection : base.maxRequestsPerConnection;
  limits.headerTimeout = duration(raw.header_timeout, base.headerTimeout);
  limits.requestTimeout = duration(raw.request_timeout, base.requestTimeout);
  limits.idleTimeout = duration(raw.idle_timeout, base.idleTimeout);
  limits.drainTimeout = duration(raw.drain_timeout, base.drainTimeout);
  return limits;
}

/** "~/x" is the home directory; other relative paths resolve against the config's directory. */
function resolvePath(path: string, ctx: NormaliseContext): string {
  if (path === '~') return ctx.homeDir;
  if (path.startsWith('~/')) return join(ctx.homeDir, path.slice(2));
  return isAbsolute(path) ? resolve(path) : resolve(ctx.baseDir, path);
}

function defaultStorage(ctx: NormaliseContext): string {
  const fromEnv = ctx.env.ANOMALY_DATA_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(ctx.homeDir, '.local', 'share', 'anomaly');
}

export function defaultHomeDir(): string {
  return homedir();
}
