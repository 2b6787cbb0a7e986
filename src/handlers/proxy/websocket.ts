import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import type { Request } from '../../core/request.js';
import { Response } from '../../core/response.js';
import type { UpstreamTarget } from '../../upstream/target.js';
import { balanceRequest, gatewayError, upstreamPath, type ForwardOptions } from './forward.js';
import { upstreamRequestHeaders } from './headers.js';

function connect(target: UpstreamTarget, timeout: number): Promise<Socket> {
  const url = target.url;
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const socket = secure
      ? tls.connect({ host, port, servername: net.isIP(host) === 0 ? host : undefined, ALPNProtocols: ['http/1.1'], ...target.tlsConnect })
      : net.connect({ host, port });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), timeout);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/**
 * WebSocket (any HTTP/1.1 Upgrade) pass-through: connect to a target, send the request head with
 * forwarding headers, then splice the two connections. The upstream's answer (101, or a refusal)
 * reaches the client byte for byte. A target that cannot be reached gets the next one; when none
 * can, the client gets a 502 before anything was taken over.
 */
export async function proxyUpgrade(req: Request, opts: ForwardOptions): Promise<Response> {
  const upgrade = req.upgrade;
  if (upgrade === null) throw new Error('proxyUpgrade needs an upgrade request');
  const group = opts.group;
  const breq = balanceRequest(req);
  const path = upstreamPath(req.target, opts.stripPrefix);
  let tried: Set<UpstreamTarget> | null = null;
  let lastError: NodeJS.ErrnoException | null = null;
  for (let attempt = 0; attempt < group.retry.attempts; attempt++) {
    const target = group.select(breq, tried);
    if (target === null) break;
    let upstream: Socket;
    try {
      upstream = await connect(target, group.timeouts.connect);
    } catch (err) {
      lastError = err as NodeJS.ErrnoException;
      group.failed(target, lastError.code ?? lastError.message);
      (tried ??= new Set()).add(target);
      continue;
    }
    group.succeeded(target);
    const headers = upstreamRequestHeaders(req, opts.forwarding, true);
    if (opts.forwarding.hostFromTarget) headers[1] = target.url.host;
    let head = `${req.method} ${target.basePath}${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    head += '\r\n';
    const { socket: client, head: early } = upgrade.take();
    target.inFlight++;
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      target.inFlight--;
      client.destroy();
      upstream.destroy();
    };
    upstream.setNoDelay(true);
    upstream.write(head);
    if (early.length > 0) upstream.write(early);
    upstream.on('error', close).on('close', close);
    client.on('error', close).on('close', close);
    // pipe() gives backpressure both ways; a half-close from one side ends the other's writes.
    upstream.pipe(client);
    client.pipe(upstream);
    return new Response(101);
  }
  if (lastError === null) return gatewayError(503, 'no upstream available');
  opts.logger.warn({ upstream: group.name, method: req.method, path: req.path, code: lastError.code, err: lastError.message }, 'upstream connect failed (upgrade)');
  return lastError.code === 'UND_ERR_CONNECT_TIMEOUT' ? gatewayError(504, 'upstream timed out') : gatewayError(502, 'upstream unreachable');
}
