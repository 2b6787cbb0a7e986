/** The admin operations one server process answers itself (single process, or a worker asked over IPC). */
import type { CacheZones } from '../cache/zones.js';
import type { AnomalyServer } from '../server/server.js';
import type { AdminOp, ProcessReport, PurgeResult } from './control.js';

export function processReport(server: AnomalyServer, worker: number | null): ProcessReport {
  return {
    worker,
    pid: process.pid,
    server: server.status(),
    routes: server.routes().map(({ tag, status }) => ({ tenant: tag.tenant, site: tag.site, route: tag.route, handler: tag.handler, engine: tag.engine, status })),
  };
}

export async function purgeLocal(caches: CacheZones, zone: string, key: string | null, worker: number | null): Promise<PurgeResult> {
  const purged = key === null ? await caches.clear(zone) : await caches.purge(zone, key);
  return { worker, purged };
}

/** Runs one operation the supervisor sent; the answer goes back over IPC as JSON. */
export async function runAdminOp(server: AnomalyServer, caches: CacheZones, op: AdminOp, worker: number | null): Promise<ProcessReport | PurgeResult> {
  switch (op.op) {
    case 'report':
      return processReport(server, worker);
    case 'purge':
      return await purgeLocal(caches, op.zone, op.key, worker);
  }
}
