import dgram, { type RemoteInfo } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AnomalyError, ErrorCodes } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { RequestProcessor } from '../../core/processor.js';
import type { ConnectionInfo } from '../../core/request.js';
import { EventKind, type NativeEvent, type NativeQuicServer, type QuicBinding, type QuicStats } from './native.js';
import { DatagramBatch, forEachDatagram } from './packets.js';
import { H3Stream, type StreamContext, type StreamHost } from './stream.js';

export interface Http3Limits {
  readonly idleTimeout: number;
  readonly maxHeaderSize: number;
  readonly maxHeaders: number;
}

export interface Http3EndpointOptions {
  readonly binding: QuicBinding;
  /** Address and port of the UDP socket: the TLS listener's, so that Alt-Svc can say h3=":PORT". */
  readonly address: string;
  readonly port: number;
  /** The default certificate (PEM). quiche takes one certificate per endpoint (see docs/http3.md). */
  readonly cert: string;
  readonly key: string;
  readonly processor: () => RequestProcessor;
  readonly bodyLimit: () => number;
  readonly limits: () => Http3Limits;
  readonly logger: Logger;
  /** Concurrent request streams per connection (QUIC initial_max_streams_bidi). */
  readonly maxStreams?: number;
  readonly maxConnections?: number;
  /** First byte of the connection IDs we issue: the worker index (docs/http3.md). */
  readonly cidPrefix?: number;
}

/** Connection ids of HTTP/3 requests are offset so they never collide with TCP connection ids in logs. */
const CONN_ID_BASE = 1 << 30;

interface ConnState {
  readonly info: ConnectionInfo;
  readonly streams: Map<number, H3Stream>;
}

/**
 * HTTP/3 on one UDP socket. Node owns the socket and the timer; the binding owns the QUIC
 * connections. Datagrams received in one event-loop turn are handed over in one drive() call,
 * which returns the datagrams to send and the HTTP/3 events, dispatched here to H3Streams.
 */
export class Http3Endpoint implements StreamHost {
  readonly quic: NativeQuicServer;
  readonly #opts: Http3EndpointOptions;
  readonly #socket: dgram.Socket;
  readonly #batch = new DatagramBatch();
  readonly #conns = new Map<number, ConnState>();
  readonly #log: Logger;
  #scheduled = false;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  #sendErrors = 0;
  #port: number;

  private constructor(opts: Http3EndpointOptions, quic: NativeQuicServer, socket: dgram.Socket, port: number) {
    this.#opts = opts;
    this.quic = quic;
    this.#socket = socket;
    this.#port = port;
    this.#log = opts.logger.child({ component: 'http3' });
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.#onMessage(msg, rinfo));
    socket.on('error', (err) => this.#log.warn({ err: err.message }, 'UDP socket error'));
  }

  /** Binds the UDP socket and creates the QUIC server. */
  static async start(opts: Http3EndpointOptions): Promise<Http3Endpoint> {
    const v6 = opts.address.includes(':');
    const socket = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: false, recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    const port = await new Promise<number>((resolve, reject) => {
      socket.once('error', (err: NodeJS.ErrnoException) =>
        reject(new AnomalyError(ErrorCodes.LISTEN, `cannot listen on UDP port ${opts.address}:${opts.port} for HTTP/3: ${err.code ?? err.message}`, { cause: err })),
      );
      socket.bind({ address: opts.address, port: opts.port, exclusive: true }, () => resolve(socket.address().port));
    });
    socket.removeAllListeners('error');
    let quic: NativeQuicServer;
    try {
      quic = withPemFiles(opts.cert, opts.key, (certPath, keyPath) => {
        const limits = opts.limits();
        return new opts.binding.QuicServer({
          certPath,
          keyPath,
          localAddress: opts.address,
          localPort: port,
          idleTimeoutMs: limits.idleTimeout,
          maxStreamsBidi: opts.maxStreams ?? 128,
          maxFieldSectionSize: limits.maxHeaderSize,
          maxConnections: opts.maxConnections ?? 10_000,
          cidPrefix: opts.cidPrefix ?? 0,
          streamWindow: 256 * 1024,
          connectionWindow: 4 * 1024 * 1024,
        });
      });
    } catch (err) {
      socket.close();
      throw new AnomalyError(ErrorCodes.LISTEN, `HTTP/3 could not start: ${(err as Error).message}`, { cause: err });
    }
    const fd = socketFd(socket);
    if (fd !== null && process.env.ANOMALY_QUIC_SENDMMSG !== '0') quic.setSendFd(fd);
    return new Http3Endpoint(opts, quic, socket, port);
  }

  get port(): number {
    return this.#port;
  }

  stats(): QuicStats {
    return this.quic.stats();
  }

  /** New certificates, and the reloaded config's idle timeout and header limit, for new connections. */
  updateCredentials(cert: string, key: string): void {
    const limits = this.#opts.limits();
    withPemFiles(cert, key, (certPath, keyPath) => this.quic.reloadCertificates(certPath, keyPath, limits.idleTimeout, limits.maxHeaderSize));
  }

  schedule(): void {
    if (this.#scheduled || this.#closed) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#drive();
    });
  }

  forget(stream: H3Stream): void {
    const conn = this.#conns.get(stream.connId);
    if (conn?.streams.get(stream.id) === stream) conn.streams.delete(stream.id);
  }

  debug(obj: object, msg: string): void {
    this.#log.debug(obj, msg);
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#closed) return;
    if (!this.#batch.fits(msg.length, rinfo.address.length)) this.#drive();
    this.#batch.push(msg, rinfo.address, rinfo.port);
    this.schedule();
  }

  #drive(): void {
    if (this.#closed) return;
    const batch = this.#batch;
    let result;
    try {
      result = this.quic.drive(batch.view(), batch.count);
    } catch (err) {
      // Only argument conversion can throw here; never let it take the process down from a timer.
      this.#log.error({ err }, 'HTTP/3 drive failed');
      batch.reset();
      return;
    }
    batch.reset();
    if (result.count > 0) forEachDatagram(result.packets, result.count, (payload, address, port) => this.#send(payload, address, port));
    const events = result.events;
    for (let i = 0; i < events.length; i++) {
      try {
        this.#dispatch(events[i]);
      } catch (err) {
        this.#log.error({ err }, 'HTTP/3 event handling failed');
      }
    }
    if (result.again) this.schedule();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (result.timeout >= 0) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        this.#drive();
      }, Math.ceil(result.timeout));
      this.#timer.unref();
    }
  }

  #send(payload: Buffer, address: string, port: number): void {
    this.#socket.send(payload, port, address, (err) => {
      // A full send buffer drops the datagram; QUIC's loss recovery sends it again.
      if (err && this.#sendErrors++ % 1000 === 0) this.#log.debug({ err: err.message }, 'UDP send failed');
    });
  }

  #dispatch(ev: NativeEvent): void {
    switch (ev.kind) {
      case EventKind.Established: {
        const [remote = '', servername = '', alpn = ''] = (ev.headers ?? '').split('\0');
        const address = remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote;
        this.#conns.set(ev.conn, {
          info: {
            id: CONN_ID_BASE + ev.conn,
            remoteAddress: address,
            remotePort: ev.code ?? 0,
            localAddress: this.#opts.address,
            localPort: this.#port,
            tls: { protocol: 'TLSv1.3', cipher: null, servername: servername === '' ? null : servername, alpn },
          },
          streams: new Map(),
        });
        return;
      }
      case EventKind.Headers: {
        const conn = this.#conns.get(ev.conn);
        if (conn === undefined) return;
        const stream = new H3Stream(this, ev.conn, ev.stream);
        conn.streams.set(ev.stream, stream);
        const limits = this.#opts.limits();
        const ctx: StreamContext = {
          processor: this.#opts.processor(),
          conn: conn.info,
          bodyLimit: this.#opts.bodyLimit(),
          maxHeaders: limits.maxHeaders,
          maxHeaderSize: limits.maxHeaderSize,
        };
        stream.start(ev.headers ? ev.headers.split('\0') : [], ev.code === 1, ctx);
        return;
      }
      case EventKind.Data:
        if (ev.data) this.#stream(ev)?.data(ev.data);
        return;
      case EventKind.Finished:
        this.#stream(ev)?.end();
        return;
      case EventKind.Trailers:
        // Request trailers are accepted and dropped (the core Request has no trailer fields).
        if (ev.code === 1) this.#stream(ev)?.end();
        return;
      case EventKind.Reset:
        this.#stream(ev)?.aborted(`stream reset by the client (0x${(ev.code ?? 0).toString(16)})`);
        return;
      case EventKind.Drained:
        this.#stream(ev)?.drained();
        return;
      case EventKind.Closed: {
        const conn = this.#conns.get(ev.conn);
        if (conn === undefined) return;
        this.#conns.delete(ev.conn);
        for (const stream of [...conn.streams.values()]) stream.aborted(`connection closed: ${ev.text ?? 'no error'}`);
        if (ev.text) this.#log.debug({ conn: conn.info.id, reason: ev.text }, 'QUIC connection closed');
        return;
      }
    }
  }

  #stream(ev: NativeEvent): H3Stream | undefined {
    return this.#conns.get(ev.conn)?.streams.get(ev.stream);
  }

  /**
   * Graceful drain: GOAWAY on every connection, no new connections; each connection closes
   * (H3_NO_ERROR) once its requests are answered. After `timeoutMs` the rest are closed.
   */
  async drain(timeoutMs: number): Promise<void> {
    if (this.#closed) return;
    this.quic.shutdown();
    this.#drive();
    const deadline = Date.now() + timeoutMs;
    while (this.quic.stats().connections > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      this.#drive();
    }
    this.close();
  }

  /** Closes every connection at once (CONNECTION_CLOSE is sent) and the socket. */
  close(): void {
    if (this.#closed) return;
    this.quic.closeAll();
    this.#drive();
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    for (const conn of this.#conns.values()) for (const stream of [...conn.streams.values()]) stream.aborted('server closed');
    this.#conns.clear();
    // Let the CONNECTION_CLOSE datagrams leave before the socket goes.
    setImmediate(() => this.#socket.close());
  }
}

/**
 * The fd of a bound dgram socket, read through node's internal state (not the deprecated `_handle`
 * getter, which prints a warning); null when node does not expose it (Windows, a future release).
 */
function socketFd(socket: dgram.Socket): number | null {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const handle = state === undefined ? undefined : ((socket as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle ?? undefined);
  const fd = handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}

/** quiche loads certificates from files only: write them to a private temporary directory for the call. */
function withPemFiles<T>(cert: string, key: string, use: (certPath: string, keyPath: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-quic-'));
  try {
    const certPath = join(dir, 'cert.pem');
    const keyPath = join(dir, 'key.pem');
    writeFileSync(certPath, cert, { mode: 0o600 });
    writeFileSync(keyPath, key, { mode: 0o600 });
    return use(certPath, keyPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
