import type { Duplex } from 'node:stream';

/**
 * An HTTP/1.1 request asking to switch protocols (Upgrade: websocket). A handler that speaks the
 * new protocol (the proxy, passing WebSockets through) calls take() and owns the connection from
 * then on; its returned Response is only reported (logs), never written. A handler that does not
 * take it answers normally, and the protocol layer closes the connection after that answer.
 */
export interface ConnectionUpgrade {
  /** The Upgrade header value, e.g. "websocket". */
  readonly protocol: string;
  readonly taken: boolean;
  /** The raw client connection and any bytes the client sent after the request head. */
  take(): { readonly socket: Duplex; readonly head: Buffer };
}
