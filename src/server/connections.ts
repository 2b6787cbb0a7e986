import type { Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionInfo, TlsInfo } from '../core/request.js';

export type ConnectionProtocol = 'h1' | 'h2';

/** A live connection: what requests see (ConnectionInfo) plus what the server needs to manage it. */
export interface Connection extends ConnectionInfo {
  protocol: ConnectionProtocol;
  readonly secure: boolean;
  readonly socket: Socket;
  readonly openedAt: number;
  session: Http2Session | null;
  requests: number;
}

export interface ConnectionCounts {
  total: number;
  byProtocol: Record<ConnectionProtocol, number>;
  /** Open connections per client address, busiest first (top 20). */
  topClients: Array<{ address: string; connections: number }>;
}

/**
 * Every open connection of this server instance, indexed for status pages and limits.
 * Entries are removed when their socket closes.
 */
export class ConnectionRegistry {
  #nextId = 1;
  readonly #live = new Map<number, Connection>();
  readonly #perClient = new Map<string, number>();
  readonly #byProtocol: Record<ConnectionProtocol, number> = { h1: 0, h2: 0 };
  #accepted = 0;

  /** Registers a socket; returns null when `maxPerClient` (0 = unlimited) would be exceeded. */
  add(socket: Socket, protocol: ConnectionProtocol, secure: boolean, maxPerClient: number): Connection | null {
    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; logs and limits want a.b.c.d.
    const raw = socket.remoteAddress ?? '';
    const address = raw.startsWith('::ffff:') && raw.includes('.') ? raw.slice(7) : raw;
    const current = this.#perClient.get(address) ?? 0;
    if (maxPerClient > 0 && current >= maxPerClient) return null;
    this.#perClient.set(address, current + 1);
    this.#byProtocol[protocol]++;
    this.#accepted++;
    const conn: Connection = {
      id: this.#nextId++,
      remoteAddress: address,
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      tls: secure ? tlsInfo(socket as TLSSocket) : null,
      protocol,
      secure,
      socket,
      openedAt: Date.now(),
      session: null,
      requests: 0,
    };
    this.#live.set(conn.id, conn);
    socket.once('close', () => this.#remove(conn));
    return conn;
  }

  #remove(conn: Connection): void {
    if (!this.#live.delete(conn.id)) return;
    this.#byProtocol[conn.protocol]--;
    const n = (this.#perClient.get(conn.remoteAddress) ?? 1) - 1;
    if (n <= 0) this.#perClient.delete(conn.remoteAddress);
    else this.#perClient.set(conn.remoteAddress, n);
  }

  get size(): number {
    return this.#live.size;
  }

  /** Connections accepted since start. */
  get accepted(): number {
    return this.#accepted;
  }

  values(): IterableIterator<Connection> {
    return this.#live.values();
  }

  counts(): ConnectionCounts {
    const topClients = [...this.#perClient.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(([address, connections]) => ({ address, connections }));
    return { total: this.#live.size, byProtocol: { ...this.#byProtocol }, topClients };
  }
}

function tlsInfo(socket: TLSSocket): TlsInfo {
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return {
    protocol: socket.getProtocol?.() ?? null,
    cipher: socket.getCipher?.()?.name ?? null,
    servername: typeof servername === 'string' ? servername : null,
    alpn: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : null,
  };
}
