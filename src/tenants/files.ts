/**
 * Tenant files: `tenants: { acme: { file: tenants/acme.yaml } }` keeps a tenant's sites (with
 * their routes, apps, certificates) and its own `upstreams:` and `caches:` in a file of their own,
 * parsed like a config file (same checks, problems located in that file; relative paths resolve
 * against its directory) and merged into the main config as the tenant's. The server watches
 * these files too; a reload keeps the handlers of routes whose config did not change (their app
 * instances keep running), so editing one tenant's file reloads that tenant alone.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ErrorCodes } from '../core/errors.js';
import { ConfigError, type ConfigParser, type ConfigProblem } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { applyAppQuotas, assignTenant, type TenantConfig } from './config.js';

/** Top-level keys a tenant file may have: what a tenant owns. */
const TENANT_KEYS = new Set(['sites', 'upstreams', 'caches']);

export function tenantFilePath(config: ServerConfig, tenant: TenantConfig): string | null {
  if (tenant.file === null) return null;
  return isAbsolute(tenant.file) ? tenant.file : resolve(config.baseDir, tenant.file);
}

/** Every tenant file of a config (absolute paths), for watching and reload digests. */
export function tenantFiles(config: ServerConfig | null): string[] {
  if (config === null) return [];
  const out: string[] = [];
  for (const t of config.tenants ?? []) {
    const path = tenantFilePath(config, t);
    if (path !== null) out.push(path);
  }
  return out;
}

/** The config with every tenant file merged in; throws ConfigError naming the file and field. */
export function withTenantFiles(config: ServerConfig, parser: ConfigParser): ServerConfig {
  const tenants = (config.tenants ?? []).filter((t) => t.file !== null);
  if (tenants.length === 0) return config;
  const sites = [...config.sites];
  const upstreams: Record<string, unknown> = { ...((config.sections?.upstreams as Record<string, unknown> | undefined) ?? {}) };
  const caches = [...config.caches];
  const hostOwner = new Map<string, string>();
  for (const site of config.sites) for (const h of site.hosts) hostOwner.set(h, config.source ?? 'the config');
  for (const tenant of tenants) {
    const file = tenantFilePath(config, tenant) as string;
    const problem = (field: string, message: string): ConfigError => new ConfigError(ErrorCodes.CONFIG_INVALID, [{ file, line: 0, column: 0, field, message } satisfies ConfigProblem]);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw problem('', `tenant "${tenant.name}": cannot read its file: ${(err as Error).message}`);
    }
    const sub = parser.parse(text, file, { baseDir: dirname(file) });
    const raw = parseYaml(text) as Record<string, unknown>;
    for (const key of Object.keys(raw)) {
      if (!TENANT_KEYS.has(key) && !key.startsWith('x-')) throw problem(key, `a tenant file holds only sites, upstreams and caches; "${key}" belongs in the main config`);
    }
    const rawSites = Array.isArray(raw.sites) ? (raw.sites as Array<Record<string, unknown>>) : [];
    sub.sites.forEach((site, s) => {
      const rawSite = rawSites[s] ?? {};
      if (site.hosts.length === 0) throw problem(`sites[${s}]`, `a tenant's site needs hosts (the default site belongs to the main config)`);
      if (rawSite.tenant !== undefined && rawSite.tenant !== tenant.name) throw problem(`sites[${s}].tenant`, `this file belongs to tenant "${tenant.name}"`);
      for (const h of site.hosts) {
        const owner = hostOwner.get(h);
        if (owner !== undefined) throw problem(`sites[${s}].hosts`, `host "${h}" is already served by ${owner}`);
        hostOwner.set(h, file);
      }
      site.routes.forEach((route, r) => {
        if (route.module !== 'app' || route.config === null || typeof route.config !== 'object') return;
        const over = applyAppQuotas(tenant, { ...(route.config as Record<string, unknown>) });
        if (over !== null) throw problem(`sites[${s}].routes[${r}].app`, over);
      });
      // Handler paths (app files, static roots) resolve against the tenant file's directory.
      for (const route of site.routes) route.baseDir = sub.baseDir;
      const limits = rawSite.limits as Record<string, unknown> | undefined;
      assignTenant(site, tenant, limits !== undefined && limits.max_body !== undefined);
      sites.push(site);
    });
    for (const [name, group] of Object.entries((sub.sections?.upstreams as Record<string, unknown> | undefined) ?? {})) {
      if (name in upstreams) throw problem(`upstreams.${name}`, `upstream "${name}" is already defined (names are shared by the whole server)`);
      upstreams[name] = group;
    }
    for (const zone of sub.caches) {
      if (caches.some((z) => z.name === zone.name)) throw problem(`caches.${zone.name}`, `cache zone "${zone.name}" is already defined (names are shared by the whole server)`);
      caches.push(zone);
    }
  }
  return { ...config, sites, caches, sections: { ...(config.sections ?? {}), upstreams } };
}
