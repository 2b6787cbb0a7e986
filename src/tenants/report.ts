/** The tenants of a running config for the admin API: name, limits and sites. */
import type { ServerConfig } from '../config/types.js';

export function tenantsReport(config: ServerConfig | null): unknown[] {
  if (config === null) return [];
  return (config.tenants ?? []).map((t) => ({
    ...t,
    sites: config.sites.filter((s) => s.tenant === t.name).map((s) => ({ name: s.name, hosts: s.hosts, routes: s.routes.length, maxBody: s.limits.maxBody })),
  }));
}
