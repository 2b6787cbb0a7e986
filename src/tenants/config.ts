/**
 * Tenants (`tenants:`) and rate limits (`rate_limit:` on a tenant or a route).
 *
 *   tenants:
 *     acme:
 *       rate_limit: { rate: 100/s, burst: 200 }          # the whole tenant
 *       client_rate_limit: { rate: 10/s, burst: 20 }     # each client IP within the tenant
 *       max_concurrent: 50                                # requests in flight at once
 *       max_body: 1mb                                     # default for its sites
 *       apps: { deadline: 2s, memory: 64mb }              # quotas for its apps' runtimes
 *   sites:
 *     - hosts: [acme.example]
 *       tenant: acme
 *       routes:
 *         - path: /api/*
 *           rate_limit: { rate: 5/s, burst: 10, per: client }   # route-wide, or per client IP
 *           proxy: ...
 */
import type { SiteConfig } from '../config/types.js';
import { parseDuration, parseSize } from '../config/units.js';

export interface RateSpec {
  /** Tokens added per second. */
  readonly perSecond: number;
  /** Bucket size: requests allowed at once after an idle period. */
  readonly burst: number;
}

export interface RouteRateLimit extends RateSpec {
  /** One bucket for the route, or one per client IP. */
  readonly per: 'route' | 'client';
}

export interface TenantConfig {
  readonly name: string;
  readonly rateLimit: RateSpec | null;
  readonly clientRateLimit: RateSpec | null;
  /** Requests of this tenant in flight at once (0 = unlimited). */
  readonly maxConcurrent: number;
  readonly maxBody: number | null;
  readonly apps: { readonly deadline: number | null; readonly memory: number | null };
  /** A file with the tenant's own sites (and upstreams, caches), as written (resolved by files.ts). */
  readonly file: string | null;
}

/** What applies to one route, resolved at config time (RouteConfig.limits). */
export interface RouteLimits {
  readonly tenant: TenantConfig | null;
  readonly route: RouteRateLimit | null;
  /** Bucket key prefix unique to the route ("site path"). */
  readonly routeKey: string;
}

const RATE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*/\\s*(s|sec|second|m|min|minute|h|hour)\\s*$';
const rateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rate'],
  properties: {
    // pattern only constrains strings, exclusiveMinimum only numbers.
    rate: { type: ['number', 'string'], pattern: RATE_PATTERN, exclusiveMinimum: 0 },
    burst: { type: 'integer', minimum: 1 },
  },
};

export const routeRateLimitSchema: Record<string, unknown> = {
  ...rateSchema,
  properties: { ...rateSchema.properties, per: { type: 'string', enum: ['route', 'client'] } },
};

export const tenantsSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: {
    type: 'object',
    additionalProperties: false,
    properties: {
      rate_limit: rateSchema,
      client_rate_limit: rateSchema,
      max_concurrent: { type: 'integer', minimum: 0 },
      max_body: { type: ['string', 'integer'] },
      file: { type: 'string', minLength: 1 },
      apps: {
        type: 'object',
        additionalProperties: false,
        properties: { deadline: { type: ['string', 'integer'] }, memory: { type: ['string', 'integer'] } },
      },
    },
  },
};

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

/** "100/s", "30/min", or a number (per second). */
export function parseRate(value: unknown): number {
  if (typeof value === 'number') return value;
  const m = /^\s*(\d+(?:\.\d+)?)\s*\/\s*(\w+)\s*$/.exec(String(value));
  if (m === null) throw new Error(`not a rate: ${String(value)}`);
  const unit = m[2][0];
  return Number(m[1]) / (unit === 's' ? 1 : unit === 'm' ? 60 : 3600);
}

function rateSpec(raw: unknown): RateSpec | null {
  if (!isMap(raw)) return null;
  const perSecond = parseRate(raw.rate);
  return { perSecond, burst: typeof raw.burst === 'number' ? raw.burst : Math.max(1, Math.ceil(perSecond)) };
}

export function normaliseTenants(raw: unknown): TenantConfig[] {
  if (!isMap(raw)) return [];
  return Object.entries(raw).map(([name, t]) => {
    const block = isMap(t) ? t : {};
    const apps = isMap(block.apps) ? block.apps : {};
    return {
      name,
      rateLimit: rateSpec(block.rate_limit),
      clientRateLimit: rateSpec(block.client_rate_limit),
      maxConcurrent: typeof block.max_concurrent === 'number' ? block.max_concurrent : 0,
      maxBody: block.max_body === undefined ? null : parseSize(block.max_body as string | number),
      apps: {
        deadline: apps.deadline === undefined ? null : parseDuration(apps.deadline as string | number),
        memory: apps.memory === undefined ? null : parseSize(apps.memory as string | number),
      },
      file: typeof block.file === 'string' ? block.file : null,
    };
  });
}

export function normaliseRouteRateLimit(raw: unknown): RouteRateLimit | null {
  const spec = rateSpec(raw);
  if (spec === null) return null;
  return { ...spec, per: (raw as Raw).per === 'client' ? 'client' : 'route' };
}

/** Cross-field problems: a site naming an unknown tenant, sizes and durations that do not parse. */
export function tenantProblems(data: Raw): Array<{ path: Array<string | number>; message: string }> {
  const problems: Array<{ path: Array<string | number>; message: string }> = [];
  const tenants = isMap(data.tenants) ? data.tenants : {};
  for (const [name, t] of Object.entries(tenants)) {
    if (!isMap(t)) continue;
    const check = (path: Array<string | number>, value: unknown, parse: (v: string | number) => number, what: string) => {
      if (value === undefined) return;
      try {
        parse(value as string | number);
      } catch {
        problems.push({ path, message: `must be ${what}, got ${JSON.stringify(value)}` });
      }
    };
    check(['tenants', name, 'max_body'], t.max_body, parseSize, 'a size like 1mb');
    if (isMap(t.apps)) {
      check(['tenants', name, 'apps', 'deadline'], t.apps.deadline, parseDuration, 'a duration like 2s');
      check(['tenants', name, 'apps', 'memory'], t.apps.memory, parseSize, 'a size like 64mb');
    }
  }
  const sites = Array.isArray(data.sites) ? data.sites : [];
  sites.forEach((site, s) => {
    if (!isMap(site) || site.tenant === undefined) return;
    // This runs before the schema's verdict is known: values that do not parse are the schema's to report.
    try {
      const tenant = typeof site.tenant === 'string' && isMap(tenants[site.tenant]) ? normaliseTenants({ [site.tenant]: tenants[site.tenant] })[0] : null;
      const routes = tenant !== null && Array.isArray(site.routes) ? site.routes : [];
      routes.forEach((route, r) => {
        if (!isMap(route) || !isMap(route.app)) return;
        const problem = applyAppQuotas(tenant as TenantConfig, { ...route.app });
        if (problem !== null) problems.push({ path: ['sites', s, 'routes', r, 'app'], message: problem });
      });
    } catch {
      // reported elsewhere
    }
    if (typeof site.tenant !== 'string' || !(site.tenant in tenants)) {
      const known = Object.keys(tenants);
      problems.push({
        path: ['sites', s, 'tenant'],
        message: `unknown tenant ${JSON.stringify(site.tenant)}: ${known.length === 0 ? 'there is no tenants: section' : `tenants are ${known.join(', ')}`}`,
      });
    }
  });
  return problems;
}

/**
 * Applies a tenant's defaults and quotas to one of its app routes' config block: `deadline` and
 * `memory` default to the tenant's, and may not exceed them. Returns a problem message or null.
 */
export function applyAppQuotas(tenant: TenantConfig, appConfig: Raw): string | null {
  const quotas: Array<['deadline' | 'memory', number | null, (v: string | number) => number]> = [
    ['deadline', tenant.apps.deadline, parseDuration],
    ['memory', tenant.apps.memory, parseSize],
  ];
  for (const [key, quota, parse] of quotas) {
    if (quota === null) continue;
    const own = appConfig[key];
    if (own === undefined) appConfig[key] = quota;
    else if (parse(own as string | number) > quota) return `app ${key} ${String(own)} is above tenant "${tenant.name}"'s quota`;
  }
  return null;
}

/**
 * Resolves `tenants:` and gives each site of a tenant its tenant: the site's name and routes
 * carry it, its max_body defaults to the tenant's, its app routes get the tenant's quotas.
 * Runs on validated data; the sites are the normalised ones, in the same order.
 */
export function applyTenants(data: Raw, sites: SiteConfig[]): TenantConfig[] {
  const tenants = normaliseTenants(data.tenants);
  const byName = new Map(tenants.map((t) => [t.name, t]));
  const rawSites = Array.isArray(data.sites) ? data.sites : [];
  sites.forEach((site, s) => {
    const raw = isMap(rawSites[s]) ? (rawSites[s] as Raw) : {};
    const tenant = typeof raw.tenant === 'string' ? byName.get(raw.tenant) : undefined;
    if (tenant === undefined) return;
    site.tenant = tenant.name;
    assignTenant(site, tenant, isMap(raw.limits) && raw.limits.max_body !== undefined);
  });
  return tenants;
}

/**
 * Makes `site` the tenant's: its name on the site and routes, the tenant's max_body unless the
 * site has its own, the tenant's app quotas as defaults (over-quota values are reported elsewhere).
 */
export function assignTenant(site: SiteConfig, tenant: TenantConfig, ownMaxBody: boolean): void {
  site.tenant = tenant.name;
  if (tenant.maxBody !== null && !ownMaxBody) site.limits = { ...site.limits, maxBody: tenant.maxBody };
  for (const route of site.routes) {
    route.tenant = tenant;
    if (route.module === 'app' && isMap(route.config)) applyAppQuotas(tenant, route.config);
  }
}

/** Where token buckets live (`rate_limits:`): this process (default) or a shared Redis. */
export interface RateLimitStoreConfig {
  readonly store: 'local' | 'redis';
  readonly url: string | null;
  readonly prefix: string;
  /** Redis command timeout, ms. */
  readonly timeout: number;
}

export const rateLimitsSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  properties: {
    store: { type: 'string', enum: ['local', 'redis'] },
    url: { type: 'string', pattern: '^rediss?://' },
    prefix: { type: 'string' },
    timeout: { type: ['string', 'integer'] },
  },
};

export function rateLimitStoreProblems(raw: unknown): string[] {
  if (!isMap(raw)) return [];
  if (raw.store === 'redis' && typeof raw.url !== 'string') return ['rate_limits.url: required with store: redis (redis://host:port)'];
  return [];
}

export function normaliseRateLimitStore(raw: unknown): RateLimitStoreConfig {
  const block = isMap(raw) ? raw : {};
  return {
    store: block.store === 'redis' ? 'redis' : 'local',
    url: typeof block.url === 'string' ? block.url : null,
    prefix: typeof block.prefix === 'string' ? block.prefix : 'anomaly:rl:',
    timeout: block.timeout === undefined ? 100 : parseDuration(block.timeout as string | number),
  };
}
