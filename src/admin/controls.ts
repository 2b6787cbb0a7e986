/**
 * The two AdminControl implementations: one process serving everything (workers: 1), and the
 * supervisor, which runs each operation in every worker over IPC and combines the answers.
 */
import type { CacheZones } from '../cache/zones.js';
import { ConfigError, formatProblem, type ConfigParser } from '../config/index.js';
import type { ServerConfig } from '../config/types.js';
import { clusterMetricsText } from '../observe/metrics/cluster.js';
import type { PrometheusMetrics } from '../observe/metrics/prometheus.js';
import type { AnomalyServer } from '../server/server.js';
import type { Supervisor } from '../server/workers/supervisor.js';
import type { AdminControl, ProcessReport, PurgeResult, ReloadResult } from './control.js';
import { processReport, purgeLocal } from './local.js';
import { withTenantFiles } from '../tenants/files.js';
import { tenantsReport } from '../tenants/report.js';

interface CommonOptions {
  readonly configFile: string | null;
  readonly parser: ConfigParser;
  readonly current: () => ServerConfig | null;
  readonly reload: () => Promise<ReloadResult>;
}

function validator(file: string | null, parser: ConfigParser): (text: string) => string[] {
  return (text) => {
    try {
      // Tenant files are read from disk: the new main text is checked together with them.
      withTenantFiles(parser.parse(text, file ?? '<admin>'), parser);
      return [];
    } catch (err) {
      if (err instanceof ConfigError) return err.problems.map(formatProblem);
      return [(err as Error).message];
    }
  };
}

export function localControl(o: CommonOptions & { server: AnomalyServer; caches: CacheZones; metrics: PrometheusMetrics }): AdminControl {
  return {
    configFile: o.configFile,
    reports: async () => [processReport(o.server, null)],
    purge: async (zone, key) => [await purgeLocal(o.caches, zone, key, null)],
    metrics: async () => ({ contentType: o.metrics.registry.contentType, text: await o.metrics.text() }),
    reload: o.reload,
    validate: validator(o.configFile, o.parser),
    tenants: () => tenantsReport(o.current()),
  };
}

export function supervisorControl(o: CommonOptions & { supervisor: Supervisor }): AdminControl {
  return {
    configFile: o.configFile,
    async reports() {
      const answers = await o.supervisor.ask({ op: 'report' });
      return answers.filter((a) => a.ok).map((a) => a.result as ProcessReport);
    },
    async purge(zone, key) {
      const answers = await o.supervisor.ask({ op: 'purge', zone, key });
      return answers.map((a): PurgeResult => (a.ok ? (a.result as PurgeResult) : { worker: a.index, purged: false }));
    },
    metrics: clusterMetricsText,
    reload: o.reload,
    validate: validator(o.configFile, o.parser),
    tenants: () => tenantsReport(o.current()),
  };
}
