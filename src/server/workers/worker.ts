/**
 * The worker's side of the supervisor channel: tell the supervisor when serving (with the ports)
 * or failed, and take its reload and stop requests. Null when this process is not a worker.
 */
import cluster from 'node:cluster';
import type { AdminOp } from '../../admin/control.js';
import { isToWorker, WORKER_INDEX_ENV, type FromWorker } from './messages.js';
import type { WorkerPorts } from './supervisor.js';

export interface WorkerChannel {
  /** 1-based index, stable across restarts of the same slot (for logs). */
  readonly index: number;
  ready(ports: WorkerPorts): void;
  failed(message: string): void;
  /** The supervisor asks for an in-place config reload; the answer goes back to it. */
  onReload(reload: () => Promise<{ ok: boolean; message?: string }>): void;
  /** The supervisor runs an admin API operation here; the result (JSON) goes back to it. */
  onAdmin(run: (op: AdminOp) => Promise<unknown>): void;
  /** The supervisor asks this worker to drain and exit, or went away (then the worker must not outlive it). */
  onStop(stop: (why: string) => void): void;
  /** Tells the other workers (through the supervisor) that a memory cache entry was purged. */
  cachePurged(zone: string, key: string | null): void;
  /** Another worker purged a memory cache entry. */
  onCachePurge(apply: (zone: string, key: string | null) => void): void;
}

export function workerChannel(): WorkerChannel | null {
  if (!cluster.isWorker || typeof process.send !== 'function') return null;
  const index = Number(process.env[WORKER_INDEX_ENV] ?? cluster.worker?.id ?? 0);
  const tell = (m: FromWorker): void => {
    if (process.connected) process.send?.(m);
  };
  return {
    index,
    ready: (ports) => tell({ type: 'ready', ...ports }),
    failed: (message) => tell({ type: 'failed', message }),
    onReload(reload) {
      process.on('message', (m: unknown) => {
        if (!isToWorker(m) || m.type !== 'reload') return;
        void reload().then((r) => tell({ type: 'reloaded', id: m.id, ok: r.ok, ...(r.message !== undefined ? { message: r.message } : {}) }));
      });
    },
    cachePurged: (zone, key) => tell({ type: 'cache-purge', zone, key }),
    onCachePurge(apply) {
      process.on('message', (m: unknown) => {
        if (isToWorker(m) && m.type === 'cache-purge') apply(m.zone, m.key);
      });
    },
    onAdmin(run) {
      process.on('message', (m: unknown) => {
        if (!isToWorker(m) || m.type !== 'admin') return;
        run(m.op).then(
          (result) => tell({ type: 'admin-answer', id: m.id, ok: true, result }),
          (err: unknown) => tell({ type: 'admin-answer', id: m.id, ok: false, message: (err as Error).message }),
        );
      });
    },
    onStop(stop) {
      process.on('message', (m: unknown) => {
        if (isToWorker(m) && m.type === 'stop') stop('supervisor');
      });
      process.on('disconnect', () => stop('supervisor gone'));
    },
  };
}
