import http from 'node:http';
import http2, { type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Logger } from '../core/logger.js';
import type { HandlerModule } from '../core/module.js';
import type { Limits, ServerConfig } from '../config/types.js';
import { accessLogger, type AccessSink } from '../observe/access-log.js';
import { createHttp1RequestListener } from '../protocols/http1/adapter.js';
import { Http1FastLane, type FastLaneLimits } from '../protocols/http1/fast-lane.js';
import { createHttp1UpgradeListener } from '../protocols/http1/upgrade.js';
import { createHttp2StreamListener } from '../protocols/http2/adapter.js';
import type { ExtraValue } from '../protocols/headers-out.js';
import { altSvcFor } from '../protocols/http3/alt-svc.js';
import { Http3Endpoint } from '../protocols/http3/endpoint.js';
import { loadBinding } from '../protocols/http3/native.js';
import { ConnectionRegistry, type Connection, type ConnectionCounts } from './connections.js';
import { Dispatcher, type CompletionListener, type RouteReport, type RouteWrapper } from './dispatcher.js';
import { Listener, type Routing } from './listener.js';
import { keepNextTickShape } from './tick-shape.js';

/** The certificates a TLS listener serves; built per config version. */
export interface Certificates {
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
  readonly defaultPem: { readonly cert: string; readonly key: string };
  /** The local development CA's certificate path, when it issued any certificate. */
  readonly localCaPath: string | null;
}

export interface ServerDeps {
  readonly modules: ReadonlyArray<HandlerModule>;
  readonly logger: Logger;
  /** Where access-log lines go (see observe/logger.ts). */
  readonly access: AccessSink;
  readonly certificates: (config: ServerConfig, logger: Logger) => Promise<Certificates>;
  /** Extra observers of finished requests (metrics). The access log is added from config. */
  readonly completionListeners?: readonly CompletionListener[];
  /** Route-level layers (the cache), kept across reloads by whoever owns them. */
  readonly wrapRoute?: RouteWrapper;
  /**
   * 'serve' (default): run the HTTP/3 endpoint. 'advertise': another process of the same server
   * owns the UDP port (with worker processes, one worker serves HTTP/3: datagrams of a QUIC
   * connection must all reach the process that holds it); this one only sends alt-svc.
   */
  readonly http3Role?: 'serve' | 'advertise';
}

export interface ServerStatus {
  readonly startedAt: string;
  readonly config: string;
  readonly reloads: number;
  readonly requests: number;
  readonly connections: ConnectionCounts;
  readonly accepted: number;
  readonly draining: boolean;
  /** TLS handshakes completed and failed since start. */
  readonly tls: { readonly handshakes: number; readonly failures: number };
}

const kConn = Symbol('anomaly.connection');
const MAX_CONCURRENT_STREAMS = 250;
/** While draining, how long an idle HTTP/1.1 connection may still bring one more request. */
const IDLE_CLOSE_GRACE_MS = 1_000;
type WithConn = { [kConn]?: Connection };

/**
 * One anomaly server: listeners, live connections and the current dispatcher. Everything
 * per-process lives here, so several can run in one process (tests) or one per worker.
 */
export class AnomalyServer {
  readonly #deps: ServerDeps;
  readonly #logger: Logger;
  readonly #registry = new ConnectionRegistry();
  readonly #h1: http.Server;
  readonly #h2: http2.Http2Server;
  /** Serves plain HTTP/1.1 requests itself; node:http (#h1) gets the connections it does not take. */
  readonly #fastLane: Http1FastLane;
  #laneLimits: FastLaneLimits = { maxUri: 0, maxHeaders: 0, maxHeaderSize: 0, maxRequests: 0, idleTimeout: 0 };
  #config: ServerConfig | null = null;
  #dispatcher: Dispatcher | null = null;
  #certs: Certificates | null = null;
  #listener: Listener | null = null;
  #draining = false;
  #reloads = 0;
  #requests = 0;
  #tlsHandshakes = 0;
  #tlsFailures = 0;
  #startedAt = new Date();
  #reloadChain: Promise<void> = Promise.resolve();
  /** Fields added to every HTTP/1.1 and HTTP/2 response (alt-svc while HTTP/3 is up). */
  readonly #extraHeaders: Array<readonly [string, ExtraValue]> = [];
  #http3: Http3Endpoint | null = null;

  constructor(deps: ServerDeps) {
    this.#deps = deps;
    this.#logger = deps.logger;
    const processor = (): Dispatcher => this.#dispatcher as Dispatcher;
    const bodyLimit = (): number => this.#limits().maxBody;

    this.#h1 = http.createServer(
      { noDelay: true, connectionsCheckingInterval: 1000 },
      createHttp1RequestListener({
        processor,
        connInfo: (req) => (req.socket as Socket & WithConn)[kConn] as Connection,
        draining: () => this.#draining,
        bodyLimit,
        maxHeaders: () => this.#limits().maxHeaders,
        maxUri: () => this.#limits().maxUri,
        maxHeaderSize: () => this.#limits().maxHeaderSize,
        maxRequests: () => this.#limits().maxRequestsPerConnection,
        extraHeaders: this.#extraHeaders,
      }),
    );
    // node:http only runs its header/request timeout checks for servers that emitted 'listening';
    // ours never listens itself (the Listener hands it sockets).
    this.#h1.emit('listening');
    // Requests with an Upgrade header (WebSocket) leave node's parser; handlers may take the socket.
    this.#h1.on(
      'upgrade',
      createHttp1UpgradeListener({
        processor,
        connInfo: (req) => (req.socket as Socket & WithConn)[kConn] as Connection,
        extraHeaders: this.#extraHeaders,
        reparse: (socket) => this.#h1.emit('connection', socket),
      }),
    );
    this.#h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.#onClientError(err, socket));
    // CONNECT asks for a tunnel: this is an origin server (and the proxy handler does not tunnel).
    this.#h1.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
      socket.end('HTTP/1.1 405 Method Not Allowed\r\nallow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    });

    this.#fastLane = new Http1FastLane({
      processor,
      connInfo: (socket) => (socket as Socket & WithConn)[kConn] as Connection,
      draining: () => this.#draining,
      bodyLimit,
      limits: () => this.#laneLimits,
      extraHeaders: this.#extraHeaders,
      handOff: (socket) => this.#h1.emit('connection', socket),
    });

    // Node advertises no stream limit by default (2^32-1): one client could hold any number of
    // streams open. 250 is in line with nginx (128) and h2o (100-256).
    this.#h2 = http2.createServer({ maxSessionMemory: 32, settings: { maxConcurrentStreams: MAX_CONCURRENT_STREAMS } });
    this.#h2.on(
      'stream',
      createHttp2StreamListener({
        processor,
        connInfo: (stream: ServerHttp2Stream) => (stream.session as Http2Session & WithConn)[kConn] as Connection,
        bodyLimit,
        headerLimits: () => this.#limits(),
        extraHeaders: this.#extraHeaders,
      }),
    );
    this.#h2.on('session', (session: Http2Session) => this.#onSession(session));
    this.#h2.on('sessionError', (err: Error) => this.#logger.debug({ err }, 'http2 session error'));
  }

  #limits(): Limits {
    return (this.#config as ServerConfig).limits;
  }

  async start(config: ServerConfig): Promise<void> {
    await keepNextTickShape();
    const certs = config.listen.tls !== null ? await this.#deps.certificates(config, this.#logger) : null;
    const dispatcher = await Dispatcher.build(config, this.#deps.modules, this.#logger, this.#listenersFor(config), this.#deps.wrapRoute);
    this.#config = config;
    this.#certs = certs;
    this.#dispatcher = dispatcher;
    this.#applyLimits(config.limits);
    const listener = new Listener({
      address: config.listen.address,
      tlsPort: config.listen.tls,
      plainPort: config.listen.plain,
      tls:
        certs === null
          ? null
          : {
              cert: certs.defaultPem.cert,
              key: certs.defaultPem.key,
              // Looks the store up per handshake so that a reload's certificates apply at once.
              sniCallback: (name, cb) => (this.#certs as Certificates).sniCallback(name, cb),
            },
      handshakeTimeout: config.limits.headerTimeout,
      onConnection: (socket, routing, secure) => this.#onConnection(socket, routing, secure),
      onTlsError: (err, socket) => {
        this.#tlsFailures++;
        this.#logger.debug({ err: err.message, remote: socket.remoteAddress }, 'TLS handshake failed');
      },
    });
    try {
      await listener.start();
    } catch (err) {
      listener.close();
      await dispatcher.dispose();
      throw err;
    }
    this.#listener = listener;
    await this.#startHttp3(config, certs);
    this.#startedAt = new Date();
  }

  /** HTTP/3 on the UDP port with the TLS port's number, when configured and the binding is built. */
  async #startHttp3(config: ServerConfig, certs: Certificates | null): Promise<void> {
    const port = this.#listener?.tlsPort ?? null;
    if (!config.listen.http3 || certs === null || port === null) return;
    const loaded = loadBinding();
    if (loaded.binding === null) {
      // Said once: by the process that would serve HTTP/3 (with workers, the others stay quiet).
      if (this.#deps.http3Role !== 'advertise') {
        this.#logger.warn(`HTTP/3 is off: ${loaded.error}. HTTP/1.1 and HTTP/2 are served as usual; set listen.http3: false to silence this.`);
      }
      return;
    }
    if (this.#deps.http3Role === 'advertise') {
      this.#extraHeaders.push(['alt-svc', altSvcFor(certs.defaultPem.cert, port)]);
      return;
    }
    const processor = (): Dispatcher => this.#dispatcher as Dispatcher;
    try {
      this.#http3 = await Http3Endpoint.start({
        binding: loaded.binding,
        address: config.listen.address,
        port,
        cert: certs.defaultPem.cert,
        key: certs.defaultPem.key,
        processor,
        bodyLimit: () => this.#limits().maxBody,
        limits: () => this.#limits(),
        logger: this.#logger,
      });
    } catch (err) {
      // TCP keeps serving: HTTP/3 is an upgrade clients find through alt-svc, not a requirement.
      this.#logger.warn({ err: (err as Error).message }, 'HTTP/3 is off: the UDP listener could not start');
      return;
    }
    this.#extraHeaders.push(['alt-svc', altSvcFor(certs.defaultPem.cert, port)]);
    this.#logger.info({ port }, `HTTP/3 (QUIC) on UDP port ${port}, advertised with alt-svc`);
  }

  /** Applies a new config atomically: if anything fails to build, the old one keeps serving. */
  reload(config: ServerConfig): Promise<void> {
    const next = this.#reloadChain.then(() => this.#reload(config));
    this.#reloadChain = next.catch(() => {});
    return next;
  }

  async #reload(config: ServerConfig): Promise<void> {
    const old = this.#config as ServerConfig;
    const certs = config.listen.tls !== null ? await this.#deps.certificates(config, this.#logger) : null;
    // Routes whose handler config is unchanged keep their handler (apps keep their instances).
    const dispatcher = await Dispatcher.build(config, this.#deps.modules, this.#logger, this.#listenersFor(config), this.#deps.wrapRoute, this.#dispatcher);
    const listenChanged =
      old.listen.tls !== config.listen.tls || old.listen.plain !== config.listen.plain || old.listen.address !== config.listen.address;
    if (listenChanged) this.#logger.warn({ file: config.source }, 'listen addresses changed: restart anomaly to apply them (the rest of the config was applied)');
    const previous = this.#dispatcher;
    this.#config = { ...config, listen: old.listen };
    if (certs !== null) this.#certs = certs;
    this.#dispatcher = dispatcher;
    this.#applyLimits(config.limits);
    if (certs !== null) this.#listener?.updateDefaultCredentials(certs.defaultPem.cert, certs.defaultPem.key);
    // alt-svc follows the default certificate HTTP/3 serves.
    const altSvc = this.#extraHeaders.findIndex(([name]) => name === 'alt-svc');
    const port = this.#listener?.tlsPort ?? null;
    if (certs !== null && altSvc !== -1 && port !== null) this.#extraHeaders[altSvc] = ['alt-svc', altSvcFor(certs.defaultPem.cert, port)];
    if (certs !== null && this.#http3 !== null) {
      try {
        this.#http3.updateCredentials(certs.defaultPem.cert, certs.defaultPem.key);
      } catch (err) {
        this.#logger.warn({ err: (err as Error).message }, 'HTTP/3 keeps its previous certificate');
      }
    }
    this.#reloads++;
    await previous?.dispose();
  }

  #listenersFor(config: ServerConfig): CompletionListener[] {
    const listeners: CompletionListener[] = [() => void this.#requests++];
    if (config.log.access) listeners.push(accessLogger(this.#deps.access));
    for (const l of this.#deps.completionListeners ?? []) listeners.push(l);
    return listeners;
  }

  #applyLimits(limits: Limits): void {
    const h1 = this.#h1;
    // Read by node:http for each new connection (not in its typings).
    // node's limit is on the whole head; ours are on the target (414) and the fields (431) apart.
    (h1 as http.Server & { maxHeaderSize: number }).maxHeaderSize = limits.maxHeaderSize + limits.maxUri + 64;
    h1.headersTimeout = limits.headerTimeout;
    h1.requestTimeout = limits.requestTimeout;
    h1.keepAliveTimeout = limits.idleTimeout;
    h1.maxHeadersCount = limits.maxHeaders + 1;
    this.#laneLimits = {
      maxUri: limits.maxUri,
      maxHeaders: limits.maxHeaders,
      maxHeaderSize: limits.maxHeaderSize,
      maxRequests: limits.maxRequestsPerConnection,
      idleTimeout: limits.idleTimeout,
    };
  }

  #onConnection(socket: Socket, routing: Routing, secure: boolean): void {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    if (secure) this.#tlsHandshakes++;
    const conn = this.#registry.add(socket, routing, secure, this.#limits().maxConnectionsPerIp);
    if (conn === null) {
      socket.destroy();
      return;
    }
    (socket as Socket & WithConn)[kConn] = conn;
    socket.on('error', () => {}); // resets are routine; the protocol layers log what matters
    if (routing === 'h2') this.#h2.emit('connection', socket);
    else this.#fastLane.take(socket);
  }

  #onSession(session: Http2Session): void {
    const socket = session.socket as Socket & WithConn;
    const conn = socket[kConn];
    if (conn !== undefined) {
      conn.session = session;
      (session as Http2Session & WithConn)[kConn] = conn;
    }
    const limits = this.#limits();
    session.settings({ maxHeaderListSize: limits.maxHeaderSize });
    session.setTimeout(limits.idleTimeout, () => session.close());
    session.on('error', (err) => this.#logger.debug({ err: err.message }, 'http2 session error'));
    const max = limits.maxRequestsPerConnection;
    if (max > 0) {
      // GOAWAY once the connection has had its share: streams already open finish, the client reconnects.
      // (after that stream's answer: some clients treat GOAWAY as the end of everything they read after it)
      let streams = 0;
      session.on('stream', (stream: ServerHttp2Stream) => {
        if (++streams === max) stream.once('close', () => session.close());
      });
    }
  }

  #onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const reason = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
    this.#logger.debug({ code, remote: socket.remoteAddress }, 'rejected a malformed or slow request');
    socket.end(`HTTP/1.1 ${status} ${reason}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  }

  get tlsPort(): number | null {
    return this.#listener?.tlsPort ?? null;
  }

  get plainPort(): number | null {
    return this.#listener?.plainPort ?? null;
  }

  /** The UDP port serving HTTP/3, or null when HTTP/3 is off. */
  get http3Port(): number | null {
    return this.#http3?.port ?? null;
  }

  get localCaPath(): string | null {
    return this.#certs?.localCaPath ?? null;
  }

  get config(): ServerConfig | null {
    return this.#config;
  }

  status(): ServerStatus {
    return {
      startedAt: this.#startedAt.toISOString(),
      config: this.#config?.source ?? '<embedded>',
      reloads: this.#reloads,
      requests: this.#requests,
      connections: this.#registry.counts(),
      accepted: this.#registry.accepted,
      draining: this.#draining,
      tls: { handshakes: this.#tlsHandshakes, failures: this.#tlsFailures },
    };
  }

  /** The current config's routes with what their handlers report (apps, upstreams). */
  routes(): RouteReport[] {
    return this.#dispatcher?.routes() ?? [];
  }

  /**
   * Graceful drain: stop accepting, let in-flight requests finish (HTTP/2 gets GOAWAY, idle
   * HTTP/1.1 connections are closed, busy ones close after their response), then after the
   * drain timeout close whatever is left.
   */
  async stop(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    this.#listener?.close();
    const deadline = Date.now() + (this.#config?.limits.drainTimeout ?? 10_000);
    for (const conn of this.#registry.values()) conn.session?.close();
    // HTTP/3: GOAWAY now; connections close as their requests finish, in parallel with TCP's drain.
    const http3 = this.#http3?.drain(Math.max(0, deadline - Date.now()));
    this.#extraHeaders.length = 0;
    // Idle keep-alive connections are closed only after a grace period: a busy client's next
    // request gets its answer with "connection: close" instead, whereas closing its connection
    // at the moment it sends would lose that request (the keep-alive race).
    const closeIdleFrom = Date.now() + Math.min(IDLE_CLOSE_GRACE_MS, (deadline - Date.now()) / 2);
    while (this.#registry.size > 0 && Date.now() < deadline) {
      if (Date.now() >= closeIdleFrom) {
        this.#h1.closeIdleConnections();
        this.#fastLane.closeIdle();
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    for (const conn of this.#registry.values()) conn.socket.destroy();
    await http3;
    this.#http3 = null;
    this.#h1.close(() => {});
    this.#h2.close();
    await this.#dispatcher?.dispose();
  }
}
