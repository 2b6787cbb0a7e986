import type { AdminOp } from '../../admin/control.js';

/**
 * What the supervisor and its worker processes say to each other over the IPC channel.
 * Plain JSON objects; each has a `type`. Requests that expect an answer carry an `id`.
 */

/** Supervisor → worker. */
export type ToWorker =
  /** Load the config file again and apply it in place (AnomalyServer.reload). */
  | { readonly type: 'reload'; readonly id: number }
  /** Drain and exit 0. */
  | { readonly type: 'stop' }
  /** An admin API operation (report, cache purge); answered with 'admin-answer'. */
  | { readonly type: 'admin'; readonly id: number; readonly op: AdminOp }
  /** Another worker purged a memory cache entry (key null: the whole zone); drop it here too. */
  | CachePurgeMessage;

/** Memory cache zones are per process: a purge in one worker is relayed to the others. */
export interface CachePurgeMessage {
  readonly type: 'cache-purge';
  readonly zone: string;
  readonly key: string | null;
}

/** Worker → supervisor. */
export type FromWorker =
  | {
      readonly type: 'ready';
      readonly tlsPort: number | null;
      readonly plainPort: number | null;
      readonly http3Port: number | null;
      readonly localCaPath: string | null;
    }
  /** The worker could not start (the message is already logged by the worker). */
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'reloaded'; readonly id: number; readonly ok: boolean; readonly message?: string }
  | { readonly type: 'admin-answer'; readonly id: number; readonly ok: boolean; readonly result?: unknown; readonly message?: string }
  /** This worker purged a memory cache entry; the supervisor relays it to the other workers. */
  | CachePurgeMessage;

export function isFromWorker(value: unknown): value is FromWorker {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function isToWorker(value: unknown): value is ToWorker {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** Environment variable telling a forked process which worker it is (1-based, for logs). */
export const WORKER_INDEX_ENV = 'ANOMALY_WORKER';
