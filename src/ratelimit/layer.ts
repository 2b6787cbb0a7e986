/**
 * The limits layer around a route's handler: the tenant's concurrent-request cap, the tenant's
 * bucket, the tenant's per-client bucket and the route's own bucket (route-wide or per client).
 * A refused request gets 429 with Retry-After (503 for the concurrency cap) without reaching the
 * handler. Routes with no limit are not wrapped at all.
 */
import type { Handler, HandlerResult } from '../core/handler.js';
import type { Logger } from '../core/logger.js';
import type { ProvisionedHandler } from '../core/module.js';
import type { Request } from '../core/request.js';
import { Response } from '../core/response.js';
import type { RouteConfig } from '../config/types.js';
import type { RouteWrapper } from '../server/dispatcher.js';
import type { RateSpec } from '../tenants/config.js';
import type { BucketStore } from './buckets.js';

interface Check {
  readonly spec: RateSpec;
  /** The bucket key; null when it is per client (the address is appended). */
  readonly key: string;
  readonly perClient: boolean;
}

function refused(status: 429 | 503, seconds: number, why: string): Response {
  return new Response(status, `${status} ${status === 429 ? 'Too Many Requests' : 'Service Unavailable'}: ${why}\n`, {
    'content-type': 'text/plain; charset=utf-8',
    'retry-after': String(Math.max(1, Math.ceil(seconds))),
  });
}

/** The process-wide limits (buckets, requests in flight per tenant), kept across reloads. */
export class RouteLimiter {
  readonly #store: BucketStore;
  readonly #inFlight = new Map<string, { n: number }>();

  constructor(store: BucketStore) {
    this.#store = store;
  }

  readonly wrapRoute: RouteWrapper = async (route: RouteConfig, inner: Handler): Promise<ProvisionedHandler | null> => {
    const tenant = route.tenant ?? null;
    const checks: Check[] = [];
    if (tenant?.rateLimit != null) checks.push({ spec: tenant.rateLimit, key: `t\0${tenant.name}`, perClient: false });
    if (tenant?.clientRateLimit != null) checks.push({ spec: tenant.clientRateLimit, key: `tc\0${tenant.name}\0`, perClient: true });
    const own = route.rateLimit ?? null;
    if (own !== null) checks.push({ spec: own, key: `r\0${route.where}\0${route.path}\0`, perClient: own.per === 'client' });
    const maxConcurrent = tenant?.maxConcurrent ?? 0;
    if (checks.length === 0 && maxConcurrent === 0) return null;

    let counter: { n: number } | null = null;
    if (maxConcurrent > 0 && tenant !== null) {
      counter = this.#inFlight.get(tenant.name) ?? { n: 0 };
      this.#inFlight.set(tenant.name, counter);
    }
    const store = this.#store;
    const limited = (req: Request): HandlerResult => {
      let pending: Array<Promise<number>> | null = null;
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i];
        const wait = store.take(c.perClient ? c.key + req.conn.remoteAddress : c.key, c.spec);
        if (typeof wait === 'number') {
          if (wait > 0) return refused(429, wait, 'rate limit');
        } else (pending ??= []).push(wait);
      }
      if (pending === null) return run(req);
      return Promise.all(pending).then((waits) => {
        const wait = Math.max(...waits);
        return wait > 0 ? refused(429, wait, 'rate limit') : run(req);
      });
    };
    const run = (req: Request): HandlerResult => {
      if (counter === null) return inner(req);
      if (counter.n >= maxConcurrent) return refused(503, 1, `more than ${maxConcurrent} requests of this tenant at once`);
      const c = counter;
      c.n++;
      let result: HandlerResult;
      try {
        result = inner(req);
      } catch (err) {
        c.n--;
        throw err;
      }
      if (result instanceof Promise) return result.finally(() => void c.n--);
      c.n--;
      return result;
    };
    return { handle: limited };
  };
}

/** Applies several route wrappers, innermost first (e.g. the cache, then the limits around it). */
export function chainRouteWrappers(...wrappers: RouteWrapper[]): RouteWrapper {
  return async (route: RouteConfig, handler: Handler, logger: Logger): Promise<ProvisionedHandler | null> => {
    const layers: ProvisionedHandler[] = [];
    let handle = handler;
    try {
      for (const wrap of wrappers) {
        const wrapped = await wrap(route, handle, logger);
        if (wrapped === null) continue;
        layers.push(wrapped);
        handle = wrapped.handle;
      }
    } catch (err) {
      for (const l of layers.reverse()) await l.dispose?.();
      throw err;
    }
    if (layers.length === 0) return null;
    return {
      handle,
      dispose: async () => {
        for (const l of layers.reverse()) await l.dispose?.();
      },
    };
  };
}
