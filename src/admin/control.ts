/**
 * What the admin API needs from the process that runs it: the single server (workers: 1), or the
 * supervisor, which asks its workers over IPC and combines their answers.
 */
import type { ServerStatus } from '../server/server.js';

/** One route of a running config with what its handler reports (an app's pool, a proxy's targets). */
export interface RouteInfo {
  readonly tenant: string | null;
  readonly site: string;
  readonly route: string;
  readonly handler: string;
  readonly engine: string | null;
  readonly status: unknown;
}

/** What one server process reports about itself. */
export interface ProcessReport {
  /** Worker index (1-based), or null for a single-process server. */
  readonly worker: number | null;
  readonly pid: number;
  readonly server: ServerStatus;
  readonly routes: RouteInfo[];
}

/** Operations the supervisor asks each worker to run (messages.ts carries them). */
export type AdminOp = { readonly op: 'report' } | { readonly op: 'purge'; readonly zone: string; readonly key: string | null };

export interface PurgeResult {
  readonly worker: number | null;
  /** Whether the entry (or, without a key, the zone) existed in this process. */
  readonly purged: boolean;
}

export interface ReloadResult {
  readonly ok: boolean;
  readonly message?: string;
}

export interface AdminControl {
  /** The config file the server runs from, or null (embedded demo, --static). */
  readonly configFile: string | null;
  reports(): Promise<ProcessReport[]>;
  purge(zone: string, key: string | null): Promise<PurgeResult[]>;
  /** Prometheus text, summed over worker processes. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** Loads the config file again and applies it everywhere. */
  reload(): Promise<ReloadResult>;
  /** Problems of a config text, as it would be loaded from the config file (empty: valid). */
  validate(text: string): string[];
  /** Tenants of the running config with their limits (empty without tenants). */
  tenants(): unknown[];
}
