/**
 * The `caches:` section (named cache zones) and the route-level `cache:` key: schema, the rules
 * the schema cannot express, and normalisation. The cache itself lives in src/cache.
 */
import { join } from 'node:path';
import type { LocatedProblem } from './ajv-problems.js';
import type { PathSegment, SourcePositions } from './positions.js';
import { parseDuration, parseSize } from './units.js';

export type CacheStoreKind = 'memory' | 'disk' | 'redis';

/** A cache zone: one store, shared by every route that names it. Sizes in bytes, durations in ms. */
export interface CacheZoneConfig {
  name: string;
  store: CacheStoreKind;
  /** memory and disk: bound in bytes (least recently used entries go first). */
  maxSize: number;
  /** disk: directory. */
  path: string | null;
  /** redis: server URL and key prefix; per-command timeout. */
  url: string | null;
  prefix: string;
  timeout: number;
}

export interface RouteCacheConfig {
  zone: CacheZoneConfig;
  key: string;
  maxObjectSize: number;
  defaultTtl: number;
  heuristic: boolean;
  staleWhileRevalidate: number;
  staleIfError: number;
  keepStale: number;
  storeSetCookie: boolean;
  honorRequestCacheControl: boolean;
  lockTimeout: number;
  purgeToken: string | null;
  statusName: string;
}

const STORES: CacheStoreKind[] = ['memory', 'disk', 'redis'];
const DEFAULT_SIZES: Record<CacheStoreKind, number> = { memory: 64 * 1024 * 1024, disk: 1024 * 1024 * 1024, redis: 0 };
const KEY_TEMPLATE = /^(?:[^{}]|\{(?:scheme|host|method|uri|path|query|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[^{}\s;,]+)\})+$/;

const kind = (k: string) => ({ 'x-anomaly': k });

function storeProperties(): Record<string, unknown> {
  return {
    store: { type: 'string', enum: STORES },
    max_size: kind('size'),
    path: { type: 'string', minLength: 1 },
    url: { type: 'string', pattern: '^rediss?://' },
    prefix: { type: 'string' },
    timeout: kind('duration'),
  };
}

/** Schema of one entry of the top-level `caches:` map. */
export function cacheZoneSchema(): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, properties: storeProperties() };
}

/** Schema of the top-level `caches:` map (name → zone). */
export function cachesSchema(): Record<string, unknown> {
  return { type: 'object', propertyNames: { pattern: '^[A-Za-z0-9_-]+$' }, additionalProperties: cacheZoneSchema() };
}

/** Schema of a route's `cache:` key: true, or policy options plus a zone name or inline store options. */
export function routeCacheSchema(): Record<string, unknown> {
  return {
    type: ['object', 'boolean'],
    additionalProperties: false,
    properties: {
      zone: { type: 'string', minLength: 1 },
      ...storeProperties(),
      key: { type: 'string', minLength: 1 },
      max_object_size: kind('size'),
      default_ttl: kind('duration'),
      heuristic: { type: 'boolean' },
      stale_while_revalidate: kind('duration'),
      stale_if_error: kind('duration'),
      keep_stale: kind('duration'),
      store_set_cookie: { type: 'boolean' },
      request_cache_control: { type: 'boolean' },
      lock_timeout: kind('duration'),
      purge_token: { type: 'string', minLength: 8 },
      status_name: { type: 'string', pattern: '^[A-Za-z0-9._-]+$' },
    },
  };
}

type Raw = Record<string, unknown>;
const isMap = (value: unknown): value is Raw => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Rules across fields: a zone name must exist, a zone is either named or inline, store options fit the store. */
export function cacheProblems(data: Raw, positions: SourcePositions): LocatedProblem[] {
  const problems: LocatedProblem[] = [];
  const add = (path: PathSegment[], message: string) => problems.push({ path, at: positions.field(path), message });
  const zones = isMap(data.caches) ? data.caches : {};
  for (const [name, zone] of Object.entries(zones)) if (isMap(zone)) storeProblems(zone, ['caches', name], add);
  const sites = Array.isArray(data.sites) ? data.sites : [];
  sites.forEach((site, s) => {
    if (!isMap(site) || !Array.isArray(site.routes)) return;
    site.routes.forEach((route, r) => {
      if (!isMap(route) || !isMap(route.cache)) return;
      const cache = route.cache;
      const path: PathSegment[] = ['sites', s, 'routes', r, 'cache'];
      if (typeof cache.zone === 'string') {
        if (!(cache.zone in zones)) {
          const known = Object.keys(zones);
          add([...path, 'zone'], `no cache zone "${cache.zone}" in "caches:"${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`);
        }
        for (const option of ['store', 'max_size', 'path', 'url', 'prefix', 'timeout']) {
          if (cache[option] !== undefined) add([...path, option], `"${option}" belongs to the zone "${cache.zone}" (under "caches:"), not to a route that names a zone`);
        }
      } else {
        storeProblems(cache, path, add);
      }
      if (typeof cache.key === 'string' && !KEY_TEMPLATE.test(cache.key)) {
        add([...path, 'key'], 'must be text with {scheme} {host} {method} {uri} {path} {query} {header:name} {cookie:name} placeholders');
      }
    });
  });
  return problems;
}

function storeProblems(zone: Raw, path: PathSegment[], add: (path: PathSegment[], message: string) => void): void {
  const store = typeof zone.store === 'string' ? zone.store : 'memory';
  if (store === 'redis' && zone.url === undefined) add([...path, 'store'], 'a redis store needs "url" (redis://host:port)');
  if (store !== 'redis') {
    for (const option of ['url', 'prefix', 'timeout']) if (zone[option] !== undefined) add([...path, option], `"${option}" is an option of the redis store, not of ${store}`);
  }
  if (store !== 'disk' && zone.path !== undefined) add([...path, 'path'], `"path" is an option of the disk store, not of ${store}`);
  if (store === 'redis' && zone.max_size !== undefined) add([...path, 'max_size'], 'a redis store is bounded by the Redis server (maxmemory with an LRU policy), not by max_size');
}

/** The zones of the `caches:` section. `resolvePath` resolves a config-relative path. */
export function normaliseZones(data: Raw, storage: string, resolvePath: (p: string) => string): Map<string, CacheZoneConfig> {
  const out = new Map<string, CacheZoneConfig>();
  if (!isMap(data.caches)) return out;
  for (const [name, raw] of Object.entries(data.caches)) out.set(name, normaliseZone(name, isMap(raw) ? raw : {}, storage, resolvePath));
  return out;
}

function normaliseZone(name: string, raw: Raw, storage: string, resolvePath: (p: string) => string): CacheZoneConfig {
  const store = (typeof raw.store === 'string' ? raw.store : 'memory') as CacheStoreKind;
  return {
    name,
    store,
    maxSize: raw.max_size === undefined ? DEFAULT_SIZES[store] : parseSize(raw.max_size as string | number),
    path: store !== 'disk' ? null : typeof raw.path === 'string' ? resolvePath(raw.path) : join(storage, 'cache', name.replace(/[^A-Za-z0-9_-]/g, '_')),
    url: typeof raw.url === 'string' ? raw.url : null,
    prefix: typeof raw.prefix === 'string' ? raw.prefix : 'anomaly:cache:',
    timeout: raw.timeout === undefined ? 250 : parseDuration(raw.timeout as string | number),
  };
}

/** A route's `cache:` value, or null when the route has none (or `cache: false`). */
export function normaliseRouteCache(
  raw: unknown,
  where: string,
  zones: ReadonlyMap<string, CacheZoneConfig>,
  storage: string,
  resolvePath: (p: string) => string,
): RouteCacheConfig | null {
  if (raw === undefined || raw === false) return null;
  const c: Raw = isMap(raw) ? raw : {};
  const duration = (v: unknown, fallback: number) => (v === undefined ? fallback : parseDuration(v as string | number));
  const zone = typeof c.zone === 'string' ? (zones.get(c.zone) as CacheZoneConfig) : normaliseZone(`route ${where}`, c, storage, resolvePath);
  return {
    zone,
    key: typeof c.key === 'string' ? c.key : '{scheme}://{host}{uri}',
    maxObjectSize: c.max_object_size === undefined ? 8 * 1024 * 1024 : parseSize(c.max_object_size as string | number),
    defaultTtl: duration(c.default_ttl, 0),
    heuristic: typeof c.heuristic === 'boolean' ? c.heuristic : true,
    staleWhileRevalidate: duration(c.stale_while_revalidate, 0),
    staleIfError: duration(c.stale_if_error, 0),
    keepStale: duration(c.keep_stale, 3600_000),
    storeSetCookie: c.store_set_cookie === true,
    honorRequestCacheControl: typeof c.request_cache_control === 'boolean' ? c.request_cache_control : true,
    lockTimeout: duration(c.lock_timeout, 5000),
    purgeToken: typeof c.purge_token === 'string' ? c.purge_token : null,
    statusName: typeof c.status_name === 'string' ? c.status_name : 'anomaly',
  };
}
