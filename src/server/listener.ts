import net, { type Server as NetServer, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { AnomalyError, ErrorCodes } from '../core/errors.js';
import { MIN_TLS_VERSION, MODERN_CIPHERS } from '../tls/policy.js';

/** How a TCP connection should be spoken to, decided by ALPN (TLS) or by sniffing the preface (plain). */
export type Routing = 'h1' | 'h2';

export interface TlsCredentials {
  /** Default certificate chain and key (PEM) for clients that send no SNI. */
  readonly cert: string;
  readonly key: string;
  readonly sniCallback: (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;
}

export interface ListenerOptions {
  readonly address: string;
  readonly tlsPort: number | null;
  readonly plainPort: number | null;
  readonly tls: TlsCredentials | null;
  /** Time allowed for the TLS handshake, or for the first bytes on a plain connection. */
  readonly handshakeTimeout: number;
  readonly onConnection: (socket: Socket, routing: Routing, secure: boolean) => void;
  readonly onTlsError?: (err: Error, socket: TLSSocket) => void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');


/**
 * Accepts connections and classifies them; speaking HTTP is someone else's job.
 * TLS port: ALPN offers h2 and http/1.1. Plain port: HTTP/1.1, or h2c when the client opens with
 * the HTTP/2 connection preface (prior knowledge).
 */
export class Listener {
  readonly #opts: ListenerOptions;
  #tlsServer: tls.Server | null = null;
  #plainServer: NetServer | null = null;
  #tlsPort: number | null = null;
  #plainPort: number | null = null;

  constructor(opts: ListenerOptions) {
    this.#opts = opts;
  }

  get tlsPort(): number | null {
    return this.#tlsPort;
  }

  get plainPort(): number | null {
    return this.#plainPort;
  }

  async start(): Promise<void> {
    const o = this.#opts;
    if (o.tlsPort !== null) {
      if (o.tls === null) throw new AnomalyError(ErrorCodes.LISTEN, 'a TLS port needs certificates');
      const server = tls.createServer({
        cert: o.tls.cert,
        key: o.tls.key,
        SNICallback: o.tls.sniCallback,
        ALPNProtocols: ['h2', 'http/1.1'],
        minVersion: MIN_TLS_VERSION,
        ciphers: MODERN_CIPHERS,
        honorCipherOrder: true,
        handshakeTimeout: o.handshakeTimeout,
        allowHalfOpen: false,
        // As on the plain port (and node's https): a response is written whole, so Nagle only adds delay.
        noDelay: true,
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        o.onConnection(socket, socket.alpnProtocol === 'h2' ? 'h2' : 'h1', true);
      });
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        o.onTlsError?.(err, socket);
        socket.destroy();
      });
      this.#tlsServer = server;
      this.#tlsPort = await listen(server, o.address, o.tlsPort, 'TLS');
    }
    if (o.plainPort !== null) {
      const server = net.createServer({ allowHalfOpen: false, noDelay: true }, (socket) => this.#sniff(socket));
      this.#plainServer = server;
      this.#plainPort = await listen(server, o.address, o.plainPort, 'plain');
    }
  }

  /** Reads just enough of a plain connection to tell h2c prior knowledge from HTTP/1.1. */
  #sniff(socket: Socket): void {
    const timer = setTimeout(() => socket.destroy(), this.#opts.handshakeTimeout);
    let seen: Buffer = Buffer.alloc(0);
    const onError = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, H2_PREFACE.length);
      const isH2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (isH2 && seen.length < H2_PREFACE.length) return; // need more bytes to be sure
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.pause();
      socket.unshift(seen);
      this.#opts.onConnection(socket, isH2 ? 'h2' : 'h1', false);
      // node:http and node:http2 attach their own readers; resume in case they expect flowing data.
      process.nextTick(() => socket.resume());
    };
    socket.on('data', onData);
    socket.on('error', onError);
  }

  /** Replaces the certificate served to clients that send no SNI (after a reload). */
  updateDefaultCredentials(cert: string, key: string): void {
    this.#tlsServer?.setSecureContext({ cert, key, minVersion: MIN_TLS_VERSION, ciphers: MODERN_CIPHERS, honorCipherOrder: true });
  }

  /** Stops accepting new connections; existing ones are left to the caller to drain. */
  close(): void {
    for (const server of [this.#tlsServer, this.#plainServer]) {
      if (server !== null && server.listening) server.close();
    }
    this.#tlsServer = null;
    this.#plainServer = null;
  }
}

function listen(server: NetServer, address: string, port: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new AnomalyError(ErrorCodes.LISTEN, `cannot listen on ${what} port ${address}:${port}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: address, port, backlog: 1024 }, () => {
      server.off('error', onError);
      const bound = server.address();
      resolve(typeof bound === 'object' && bound !== null ? bound.port : port);
    });
  });
}
