/** The tenants of a running config for the admin API: name, sites, hosts and limits. */
import type { ServerConfig } from '../config/types.js';

export function tenantsReport(config: ServerConfig | null): unknown[] {
  if (config === null) return [];
  const byTenant = new Map<string, { name: string; sites: Array<{ name: string; hosts: string[]; routes: number }> }>();
  for (const site of config.sites) {
    if (site.tenant == null) continue;
    let t = byTenant.get(site.tenant);
    if (t === undefined) byTenant.set(site.tenant, (t = { name: site.tenant, sites: [] }));
    t.sites.push({ name: site.name, hosts: site.hosts, routes: site.routes.length });
  }
  return [...byTenant.values()];
}
