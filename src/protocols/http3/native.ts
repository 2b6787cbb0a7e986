import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Event kinds of the binding (native/quic/src/lib.rs, module `kind`). */
export const EventKind = {
  Established: 1,
  Headers: 2,
  Data: 3,
  Finished: 4,
  Reset: 5,
  Drained: 6,
  Closed: 7,
  Trailers: 8,
} as const;

export interface NativeEvent {
  readonly kind: number;
  readonly conn: number;
  readonly stream: number;
  /** HEADERS/TRAILERS: "name\0value\0..."; ESTABLISHED: "remote address\0server name\0alpn". */
  readonly headers?: string | null;
  readonly data?: Buffer | null;
  /** RESET: peer's code; HEADERS: 1 when the request ended with its head; ESTABLISHED: remote port. */
  readonly code?: number | null;
  readonly text?: string | null;
}

export interface DriveResult {
  readonly packets: Buffer;
  readonly count: number;
  readonly events: NativeEvent[];
  /** ms until drive() must run again; -1 when no timer is armed. */
  readonly timeout: number;
  /** Work is left for another drive() soon (a request body read was cut at its per-turn share). */
  readonly again: boolean;
}

export interface QuicServerOptions {
  certPath: string;
  keyPath: string;
  localAddress: string;
  localPort: number;
  idleTimeoutMs: number;
  maxStreamsBidi: number;
  maxFieldSectionSize: number;
  maxConnections: number;
  cidPrefix: number;
  streamWindow: number;
  connectionWindow: number;
}

export interface QuicStats {
  readonly connections: number;
  readonly streams: number;
  readonly pendingBytes: number;
  readonly accepted: number;
  readonly dropped: number;
}

/** The binding's QuicServer class: quiche connections, no I/O (see native/quic/src/lib.rs). */
export interface NativeQuicServer {
  drive(inbound: Buffer, count: number): DriveResult;
  /**
   * A whole response in one call: head, optional body, FIN when `fin`. Field sections cross as one
   * string, "name\0value\0name\0value" (see joinFields); false when the stream is gone or the
   * fields do not pair up.
   */
  respond(conn: number, stream: number, headers: string, body: Buffer | null, fin: boolean): boolean;
  sendHeaders(conn: number, stream: number, headers: string, fin: boolean): boolean;
  sendBody(conn: number, stream: number, data: Buffer, fin: boolean): number;
  wantDrain(conn: number, stream: number): void;
  sendTrailers(conn: number, stream: number, headers: string): boolean;
  setReading(conn: number, stream: number, reading: boolean): void;
  stopReading(conn: number, stream: number): void;
  resetStream(conn: number, stream: number, code: number): void;
  shutdown(): void;
  closeAll(): void;
  closeConnection(conn: number, code: number, reason: string): void;
  /** New certificates and limits for new connections (config reload). */
  reloadCertificates(certPath: string, keyPath: string, idleTimeoutMs?: number, maxFieldSectionSize?: number): void;
  /** Lets the binding send with sendmmsg on the socket's fd (Linux); -1 turns that off. */
  setSendFd(fd: number): void;
  stats(): QuicStats;
}

export interface QuicBinding {
  readonly QuicServer: new (opts: QuicServerOptions) => NativeQuicServer;
}

/** The binding, or why it is unavailable (loaded once per process). */
export type BindingResult = { readonly binding: QuicBinding; readonly error: null } | { readonly binding: null; readonly error: string };

let cached: BindingResult | undefined;

/** Path of the binding built by native/quic/build.mjs; ANOMALY_QUIC_BINDING overrides it. */
export function bindingPath(): string {
  return process.env.ANOMALY_QUIC_BINDING ?? fileURLToPath(new URL('../../../../native/quic/anomaly_quic.node', import.meta.url));
}

export function loadBinding(): BindingResult {
  if (cached !== undefined) return cached;
  const path = bindingPath();
  if (!existsSync(path)) {
    cached = { binding: null, error: `the QUIC binding was not built (${path} is missing; it needs Rust's cargo: run \`node native/quic/build.mjs\`)` };
    return cached;
  }
  try {
    const require = createRequire(import.meta.url);
    cached = { binding: require(path) as QuicBinding, error: null };
  } catch (err) {
    cached = { binding: null, error: `the QUIC binding ${path} could not be loaded: ${(err as Error).message}` };
  }
  return cached;
}
