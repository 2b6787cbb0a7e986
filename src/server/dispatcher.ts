import { AnomalyError, ErrorCodes, HttpError, statusText } from '../core/errors.js';
import type { Handler, HandlerResult } from '../core/handler.js';
import type { Logger } from '../core/logger.js';
import type { HandlerModule, ProvisionedHandler } from '../core/module.js';
import type { Completion, RequestProcessor } from '../core/processor.js';
import type { Request, RouteTag } from '../core/request.js';
import { Response } from '../core/response.js';
import type { Limits, RouteConfig, ServerConfig } from '../config/types.js';
import { Router, type Route } from './router.js';
import { VirtualHosts } from './vhosts.js';

interface Site {
  readonly name: string;
  readonly limits: Limits;
  readonly router: Router;
}

/**
 * Wraps a route's handler according to route-level keys (the `cache:` layer): returns the wrapped
 * handler, disposed with this config version, or null to keep the handler as is. Injected by the
 * standard wiring, so the server does not depend on the layers it runs.
 */
export type RouteWrapper = (route: RouteConfig, handler: Handler, logger: Logger) => Promise<ProvisionedHandler | null>;

/** Adds Strict-Transport-Security to the HTTPS answers of a site that asks for it (wrapped at build time: other sites pay nothing). */
function withHsts(handle: Handler, value: string): Handler {
  const add = (res: Response): Response => (res.headers['strict-transport-security'] === undefined ? res.set('strict-transport-security', value) : res);
  return (req) => {
    if (req.scheme !== 'https') return handle(req);
    const result = handle(req);
    return result instanceof Promise ? result.then(add) : add(result);
  };
}

/** Observers of finished requests (access log, metrics). Called synchronously; keep them cheap. */
export type CompletionListener = (req: Request, res: Response | null, done: Completion) => void;

/** One provisioned route, for status pages and the admin API. */
export interface RouteReport {
  readonly tag: RouteTag;
  /** What the handler reports about itself (an app's pool and version, a proxy's upstream health), or null. */
  readonly status: unknown;
}

/** Handlers that report their state (the app handler, the proxy) have a status() method. */
function statusOf(handler: ProvisionedHandler): (() => unknown) | null {
  const status = (handler as ProvisionedHandler & { status?: unknown }).status;
  return typeof status === 'function' ? () => (status as () => unknown).call(handler) : null;
}

/**
 * Handler modules whose provisioned handler depends only on its config block (no values shared
 * through ctx.shared): a reload keeps the handler of a route whose block did not change, so an
 * app keeps its instances when another route, site or tenant file is edited.
 */
const REUSABLE_MODULES: ReadonlySet<string> = new Set(['app']);

/** Site and tenant are part of the key: a handler (an app's instances) never moves to another site or tenant. */
function reuseKey(rc: RouteConfig, site: string, baseDir: string): string | null {
  return REUSABLE_MODULES.has(rc.module) ? JSON.stringify([rc.module, rc.tenant?.name ?? null, site, rc.path, baseDir, rc.config]) : null;
}

/**
 * Host → site → route → handler, for one version of the config. A reload builds a new Dispatcher
 * and swaps it in; the old one is disposed once the swap is done.
 */
export class Dispatcher implements RequestProcessor {
  readonly #hosts: VirtualHosts<Site>;
  readonly #provisioned: ProvisionedHandler[];
  readonly #logger: Logger;
  readonly #listeners: readonly CompletionListener[];
  readonly #shared: SharedScope;
  readonly #reports: ReadonlyArray<{ tag: RouteTag; status: (() => unknown) | null }>;
  /** Handlers a later config version may take over, by reuseKey. */
  readonly #reusable: Map<string, ProvisionedHandler>;

  private constructor(
    hosts: VirtualHosts<Site>,
    provisioned: ProvisionedHandler[],
    shared: SharedScope,
    logger: Logger,
    listeners: readonly CompletionListener[],
    reports: ReadonlyArray<{ tag: RouteTag; status: (() => unknown) | null }>,
    reusable: Map<string, ProvisionedHandler>,
  ) {
    this.#reports = reports;
    this.#reusable = reusable;
    this.#hosts = hosts;
    this.#provisioned = provisioned;
    this.#shared = shared;
    this.#logger = logger;
    this.#listeners = listeners;
  }

  /** Provisions every route's handler module; on failure disposes what was built and throws. */
  static async build(
    config: ServerConfig,
    modules: ReadonlyArray<HandlerModule>,
    logger: Logger,
    listeners: readonly CompletionListener[],
    wrapRoute?: RouteWrapper,
    previous?: Dispatcher | null,
  ): Promise<Dispatcher> {
    const byId = new Map(modules.map((m) => [m.id, m]));
    const provisioned: ProvisionedHandler[] = [];
    const shared = new SharedScope();
    const sections = config.sections ?? {};
    const sites: Array<{ hosts: readonly string[]; site: Site }> = [];
    const reports: Array<{ tag: RouteTag; status: (() => unknown) | null }> = [];
    const reusable = new Map<string, ProvisionedHandler>();
    /** Handlers taken over from `previous`: still its own until this build succeeds. */
    const adopted = new Set<ProvisionedHandler>();
    try {
      for (const siteConfig of config.sites) {
        const routes: Route[] = [];
        for (const rc of siteConfig.routes) {
          const module = byId.get(rc.module);
          if (module === undefined) throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `${rc.where}: unknown handler "${rc.module}"`);
          let handler: ProvisionedHandler;
          const baseDir = rc.baseDir ?? config.baseDir;
          const key = reuseKey(rc, siteConfig.name, baseDir);
          const kept = key === null || reusable.has(key) || previous == null ? undefined : previous.#reusable.get(key);
          if (kept !== undefined) {
            handler = kept;
            adopted.add(kept);
          } else {
            try {
              handler = await module.create(rc.config, {
                logger: logger.child({ module: module.id, route: rc.path }),
                baseDir,
                dataDir: config.storage,
                sections,
                shared: shared.get,
              });
            } catch (err) {
              const message = err instanceof Error ? err.message : String(err);
              throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `${rc.where}: ${rc.module}: ${message}`, { cause: err });
            }
          }
          if (key !== null && !reusable.has(key)) reusable.set(key, handler);
          provisioned.push(handler);
          const status = statusOf(handler);
          const engine = rc.module === 'app' && status !== null ? ((status() as { engine?: string }).engine ?? null) : null;
          const tag: RouteTag = { tenant: siteConfig.tenant ?? null, site: siteConfig.name, route: rc.path, handler: rc.module, engine, slot: undefined };
          reports.push({ tag, status });
          let handle = handler.handle;
          if (wrapRoute !== undefined) {
            let wrapped: ProvisionedHandler | null;
            try {
              wrapped = await wrapRoute(rc, handle, logger.child({ route: rc.path }));
            } catch (err) {
              const message = err instanceof Error ? err.message : String(err);
              throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `${rc.where}: ${message}`, { cause: err });
            }
            if (wrapped !== null) {
              provisioned.push(wrapped);
              handle = wrapped.handle;
            }
          }
          if (siteConfig.hsts != null) handle = withHsts(handle, siteConfig.hsts);
          routes.push({ pattern: rc.path, methods: rc.methods === null ? null : new Set(rc.methods), handler: handle, tag });
        }
        sites.push({ hosts: siteConfig.hosts, site: { name: siteConfig.name, limits: siteConfig.limits, router: new Router(routes) } });
      }
    } catch (err) {
      await disposeAll(
        provisioned.filter((h) => !adopted.has(h)),
        logger,
      );
      await shared.dispose(logger);
      throw err;
    }
    // The new version owns the adopted handlers now: the previous one must not dispose them.
    if (previous != null && adopted.size > 0) previous.#release(adopted);
    return new Dispatcher(new VirtualHosts(sites), provisioned, shared, logger, listeners, reports, reusable);
  }

  handle(req: Request): HandlerResult {
    const site = this.#hosts.match(req.host);
    if (site === null) return errorResponse(404, 'no site for this host');
    const path = req.path;
    if (path.charCodeAt(0) !== 47 /* / */) {
      if (req.method === 'OPTIONS' && path === '*') return new Response(204, null, { allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS' });
      return errorResponse(400, 'request target must be an absolute path');
    }
    const limit = site.limits.maxBody;
    req.body.limit = limit;
    const declared = req.body.length;
    if (declared !== null && declared > limit) return errorResponse(413, `request body larger than ${limit} bytes`);

    const found = site.router.lookup(req.method, path);
    if (found.kind === 'not-found') return errorResponse(404);
    if (found.kind === 'method-not-allowed') {
      const res = errorResponse(405);
      res.headers.allow = found.allow;
      return res;
    }
    req.params = found.params;
    req.route = found.route.pattern;
    req.tag = found.route.tag ?? null;
    try {
      // A rejection is mapped by recover(), which the protocol layer calls.
      return found.route.handler(req);
    } catch (err) {
      return this.#fromError(req, err);
    }
  }

  recover(req: Request, err: unknown): Response {
    return this.#fromError(req, err);
  }

  #fromError(req: Request, err: unknown): Response {
    if (err instanceof HttpError) {
      const res = errorResponse(err.status, err.expose ? err.message : undefined);
      for (const name of Object.keys(err.headers)) res.headers[name.toLowerCase()] = err.headers[name];
      if (err.status >= 500) this.#logger.error({ err, method: req.method, path: req.path, route: req.route }, 'handler failed');
      return res;
    }
    this.#logger.error({ err, method: req.method, path: req.path, route: req.route }, 'handler threw');
    return errorResponse(500);
  }

  #release(handlers: ReadonlySet<ProvisionedHandler>): void {
    for (let i = this.#provisioned.length - 1; i >= 0; i--) if (handlers.has(this.#provisioned[i])) this.#provisioned.splice(i, 1);
    for (const [key, h] of this.#reusable) if (handlers.has(h)) this.#reusable.delete(key);
  }

  /** Every route of this config version with what its handler reports about itself. */
  routes(): RouteReport[] {
    return this.#reports.map((r) => ({ tag: r.tag, status: r.status === null ? null : r.status() }));
  }

  completed(req: Request, res: Response | null, done: Completion): void {
    const listeners = this.#listeners;
    for (let i = 0; i < listeners.length; i++) listeners[i](req, res, done);
  }

  async dispose(): Promise<void> {
    await disposeAll(this.#provisioned, this.#logger);
    await this.#shared.dispose(this.#logger);
  }
}

/** Values shared by the handlers of one config version (ModuleContext.shared), disposed with it. */
class SharedScope {
  readonly #values = new Map<string, { value: unknown; dispose?: (value: unknown) => void | Promise<void> }>();

  readonly get = <T>(key: string, create: () => T, dispose?: (value: T) => void | Promise<void>): T => {
    const found = this.#values.get(key);
    if (found !== undefined) return found.value as T;
    const value = create();
    this.#values.set(key, { value, dispose: dispose as ((value: unknown) => void | Promise<void>) | undefined });
    return value;
  };

  async dispose(logger: Logger): Promise<void> {
    for (const [key, entry] of this.#values) {
      try {
        await entry.dispose?.(entry.value);
      } catch (err) {
        logger.warn({ err, key }, 'shared value dispose failed');
      }
    }
    this.#values.clear();
  }
}

async function disposeAll(handlers: ProvisionedHandler[], logger: Logger): Promise<void> {
  for (const h of handlers) {
    try {
      await h.dispose?.();
    } catch (err) {
      logger.warn({ err }, 'handler dispose failed');
    }
  }
}

/** A short plain-text error answer; never a stack trace. */
export function errorResponse(status: number, message?: string): Response {
  return new Response(status, `${status} ${message ?? statusText(status)}\n`, { 'content-type': 'text/plain; charset=utf-8' });
}
