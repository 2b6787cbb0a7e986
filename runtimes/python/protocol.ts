/**
 * Messages between the main thread (runtimes/python/pool.ts) and a Python worker (worker.ts).
 * Tuples rather than objects: structured clone of a short array is the cheapest shape we measured.
 */

/** Slots of the shared control array (Int32Array over a SharedArrayBuffer). */
export const CTRL_INTERRUPT = 0; // pyodide's interrupt buffer: 2 (SIGINT) raises KeyboardInterrupt
export const CTRL_RUNNING = 1; // id of the call whose synchronous part runs now (0: none)
export const CTRL_SLOTS = 2;
export const SIGINT = 2;

export interface WorkerSetup {
  /** Directory of the pyodide npm package (loaded from disk, never from the network). */
  readonly indexURL: string;
  /** A memory snapshot to start from (fast), or null to boot fully. */
  readonly snapshot: Uint8Array | null;
  /** Boot fully and send back a snapshot for the next workers. */
  readonly makeSnapshot: boolean;
  /** Source of the guest library and of the host glue. */
  readonly anomalyPy: string;
  readonly hostPy: string;
  readonly control: SharedArrayBuffer;
  /** Host directory of the app (mounted read-only at /app and put on sys.path), or null. */
  readonly appDir: string | null;
  /** Wheels (.whl) and package folders to put on sys.path. */
  readonly packages: readonly string[];
}

// main -> worker
export type ToWorker =
  | [op: 'load', reqId: number, inst: number, file: string, code: string, memoryBytes: number, maxResponse: number]
  | [op: 'unload', inst: number]
  | [op: 'call', callId: number, inst: number, frame: string, body: Uint8Array | null]
  | [op: 'cancel', callId: number];

/** A failure as the guest glue reports it. */
export type Failure = [kind: string, message: string, line: number];

// worker -> main
export type FromWorker =
  | [op: 'ready', snapshot: Uint8Array | null, bootMs: number]
  | [op: 'boot-failed', message: string]
  /** A line the app printed (stdout or stderr). */
  | [op: 'print', line: string]
  | [op: 'loaded', reqId: number, failure: Failure | null]
  /** The common answer: "<tag><status>\0<n>\0<name>\0<value>...\0<body>", tag s (string body) or n (none). */
  | [op: 'text', callId: number, answer: string]
  | [op: 'done', callId: number, status: number, headers: string, body: string | Uint8Array | null]
  | [op: 'fail', callId: number, kind: string, message: string, line: number];
