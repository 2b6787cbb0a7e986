import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import { ActiveHealth, type ActiveOptions } from '../balance/active.js';
import { PassiveHealth, type PassiveOptions } from '../balance/passive.js';
import type { BalanceTarget } from '../balance/policy.js';
import { Http1Pool } from './h1-client.js';

export interface Timeouts {
  /** TCP (and TLS) connect, ms. */
  readonly connect: number;
  /** From the request sent to the response head, ms. */
  readonly firstByte: number;
  /** Longest pause between body chunks from the upstream, ms. */
  readonly idle: number;
}

export interface UpstreamTls {
  /** A PEM file of CAs trusted besides the system ones (absolute path), or null. */
  readonly ca: string | null;
  /** Verify the upstream's certificate (default true; false only for throw-away test setups). */
  readonly verify: boolean;
  /** SNI and the name the certificate must carry; default the target URL's host. */
  readonly servername: string | null;
}

export interface TargetOptions {
  readonly url: URL;
  readonly weight: number;
  /** Most requests in flight at once (0 = unlimited); over it the target is skipped (circuit breaking). */
  readonly maxConns: number;
  readonly timeouts: Timeouts;
  /** How long an idle upstream connection is kept, ms. */
  readonly keepAlive: number;
  readonly tls: UpstreamTls;
  readonly passive: PassiveOptions | null;
  readonly active: ActiveOptions | null;
}

/**
 * One upstream server: its keep-alive connection pools (our own HTTP/1.1 client for plain-HTTP
 * targets, h1-client.ts; undici for TLS targets and streamed uploads: measured faster than
 * node:http with a keep-alive agent, see docs/proxy.md), the requests in flight, and health.
 */
export class UpstreamTarget implements BalanceTarget {
  readonly id: string;
  readonly url: URL;
  readonly origin: string;
  /** Path prefix from the target URL ("" or "/base", no trailing slash). */
  readonly basePath: string;
  readonly weight: number;
  readonly maxConns: number;
  readonly pool: Pool;
  /** Our own client for plain-HTTP targets (requests without a streamed body); null for https. */
  readonly h1: Http1Pool | null;
  /** TLS options for connections made outside the pool (WebSocket pass-through). */
  readonly tlsConnect: { ca?: Buffer; rejectUnauthorized: boolean; servername?: string };
  readonly passive: PassiveHealth | null;
  /** Active health-check state, when checks are configured. */
  readonly checks: ActiveHealth | null;
  /** Requests in flight (response body not finished yet). */
  inFlight = 0;

  constructor(opts: TargetOptions) {
    this.url = opts.url;
    this.origin = opts.url.origin;
    this.basePath = opts.url.pathname === '/' ? '' : opts.url.pathname.replace(/\/$/, '');
    this.id = this.origin + this.basePath;
    this.weight = opts.weight;
    this.maxConns = opts.maxConns;
    const tls = opts.tls;
    this.tlsConnect = {
      rejectUnauthorized: tls.verify,
      ...(tls.ca !== null ? { ca: readFileSync(tls.ca) } : {}),
      ...(tls.servername !== null ? { servername: tls.servername } : {}),
    };
    this.pool = new Pool(this.origin, {
      connections: opts.maxConns > 0 ? opts.maxConns : null,
      pipelining: 1,
      keepAliveTimeout: opts.keepAlive,
      keepAliveMaxTimeout: Math.max(opts.keepAlive, 1000),
      connect: { timeout: opts.timeouts.connect, ...(this.url.protocol === 'https:' ? this.tlsConnect : {}) },
      headersTimeout: opts.timeouts.firstByte,
      bodyTimeout: opts.timeouts.idle,
    });
    this.h1 =
      this.url.protocol === 'http:'
        ? new Http1Pool({
            host: this.url.hostname.replace(/^\[(.*)\]$/, '$1'),
            port: this.url.port === '' ? 80 : Number(this.url.port),
            timeouts: opts.timeouts,
            keepAlive: opts.keepAlive,
          })
        : null;
    this.passive = opts.passive === null ? null : new PassiveHealth(opts.passive);
    this.checks = opts.active === null ? null : new ActiveHealth(opts.active);
  }

  get active(): number {
    return this.inFlight;
  }

  /** Whether the target may take a request now. */
  usable(): boolean {
    if (this.checks !== null && !this.checks.up) return false;
    if (this.passive !== null && this.passive.ejected) return false;
    return this.maxConns === 0 || this.inFlight < this.maxConns;
  }

  /**
   * After a reload: requests still in flight on this pool (the old config's) finish first; what is
   * left after `graceMs` is aborted.
   */
  async close(graceMs = 10_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(resolve, graceMs, 'late');
      timer.unref();
    });
    const h1 = this.h1?.close(graceMs);
    const result = await Promise.race([this.pool.close().catch(() => 'closed' as const), grace]);
    clearTimeout(timer);
    if (result === 'late') await this.pool.destroy().catch(() => {});
    await h1;
  }
}
