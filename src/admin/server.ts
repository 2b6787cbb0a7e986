/**
 * The admin API: a plain HTTP/1.1 listener of its own (loopback by default, bearer token), apart
 * from the serving ports so that neither a tenant's route nor a client can reach it. JSON in and
 * out; described by the OpenAPI document at /openapi.json (openapi.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../core/logger.js';
import type { AdminConfig } from './config.js';
import type { AdminControl, ProcessReport } from './control.js';
import { dashboardHtml } from './dashboard.js';
import { openApiDocument } from './openapi.js';

const MAX_BODY = 1024 * 1024;

class AdminHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'string' ? body : JSON.stringify(body));
  }
}

export class AdminServer {
  readonly #config: AdminConfig;
  readonly #control: AdminControl;
  readonly #logger: Logger;
  readonly #server: http.Server;
  readonly #token: Buffer | null;
  /** Config replacements and reloads run one at a time. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(config: AdminConfig, control: AdminControl, logger: Logger) {
    this.#config = config;
    this.#control = control;
    this.#logger = logger;
    this.#token = config.token === null ? null : Buffer.from(config.token);
    this.#server = http.createServer((req, res) => void this.#serve(req, res));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#config.port, this.#config.address, () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    const port = (this.#server.address() as AddressInfo).port;
    this.#logger.info({ admin: `http://${this.#config.address.includes(':') ? `[${this.#config.address}]` : this.#config.address}:${port}/` }, 'admin API listening');
    return port;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #authorised(req: http.IncomingMessage): boolean {
    if (this.#token === null) return true;
    const auth = req.headers.authorization ?? '';
    const given = Buffer.from(/^bearer /i.test(auth) ? auth.slice(7).trim() : '');
    return given.length === this.#token.length && timingSafeEqual(given, this.#token);
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    try {
      // The dashboard page itself holds no data; its scripts call the API with the token.
      if (path === '/' && method === 'GET') return send(res, 200, dashboardHtml(), 'text/html; charset=utf-8');
      if (path === '/openapi.json' && method === 'GET') return sendJson(res, 200, openApiDocument());
      if (!this.#authorised(req)) {
        res.setHeader('www-authenticate', 'Bearer realm="anomaly admin"');
        return sendJson(res, 401, { error: 'missing or wrong bearer token' });
      }
      const handler = this.#route(method, path);
      if (handler === null) return sendJson(res, 404, { error: `no ${method} ${path}` });
      await handler(req, res, url);
    } catch (err) {
      if (err instanceof AdminHttpError) return sendJson(res, err.status, err.body);
      this.#logger.error({ err, method, path }, 'admin request failed');
      sendJson(res, 500, { error: (err as Error).message });
    }
  }

  #route(method: string, path: string): ((req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>) | null {
    const c = this.#control;
    const key = `${method} ${path}`;
    const tenantReload = method === 'POST' ? /^\/tenants\/([^/]+)\/reload$/.exec(path) : null;
    if (tenantReload !== null) {
      // A reload keeps every handler whose config did not change: only this tenant's edits apply.
      return async (_req, res) => {
        const name = decodeURIComponent(tenantReload[1]);
        if (!c.tenants().some((t) => (t as { name?: string }).name === name)) throw new AdminHttpError(404, { error: `no tenant "${name}"` });
        this.#configFile();
        const r = await this.#serialised(() => c.reload());
        sendJson(res, r.ok ? 200 : 500, r.ok ? { ok: true, tenant: name } : { ok: false, error: r.message });
      };
    }
    switch (key) {
      case 'GET /metrics':
        return async (_req, res) => {
          const m = await c.metrics();
          send(res, 200, m.text, m.contentType);
        };
      case 'GET /status':
        return async (_req, res) => sendJson(res, 200, summarise(await c.reports()));
      case 'GET /apps':
        return async (_req, res) => sendJson(res, 200, { apps: byHandler(await c.reports(), 'app') });
      case 'GET /upstreams':
        return async (_req, res) => sendJson(res, 200, { upstreams: byHandler(await c.reports(), 'proxy') });
      case 'GET /tenants':
        return async (_req, res) => sendJson(res, 200, { tenants: c.tenants() });
      case 'GET /config':
        return async (_req, res) => {
          const file = this.#configFile();
          send(res, 200, await readFile(file, 'utf8'), file.endsWith('.json') ? 'application/json' : 'application/yaml; charset=utf-8');
        };
      case 'PUT /config':
        return async (req, res) => {
          const text = (await readBody(req)).toString('utf8');
          const answer = await this.#serialised(() => this.#replaceConfig(text));
          sendJson(res, answer.status, answer.body);
        };
      case 'POST /reload':
        return async (_req, res) => {
          this.#configFile();
          const r = await this.#serialised(() => c.reload());
          sendJson(res, r.ok ? 200 : 500, r.ok ? { ok: true } : { ok: false, error: r.message });
        };
      case 'POST /cache/purge':
        return async (req, res) => {
          const body = parseJson(await readBody(req)) as { zone?: unknown; key?: unknown };
          if (typeof body.zone !== 'string' || (body.key !== undefined && typeof body.key !== 'string')) {
            throw new AdminHttpError(400, { error: 'body must be {"zone": "<name>", "key": "<cache key>"} (without key: the whole zone)' });
          }
          const results = await c.purge(body.zone, typeof body.key === 'string' ? body.key : null);
          const purged = results.some((r) => r.purged);
          sendJson(res, purged ? 200 : 404, { purged, workers: results });
        };
      default:
        return null;
    }
  }

  #configFile(): string {
    const file = this.#control.configFile;
    if (file === null) throw new AdminHttpError(409, { error: 'the server does not run from a config file (embedded demo or --static): nothing to read or replace' });
    return file;
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(task, task);
    this.#chain = next.catch(() => {});
    return next;
  }

  /**
   * Validates the new text as the config file would be loaded, writes it in place of the file
   * (atomically: temp file + rename) and reloads; if the reload fails anywhere, the old text is
   * written back and reloaded, so the file and the running config never disagree.
   */
  async #replaceConfig(text: string): Promise<{ status: number; body: unknown }> {
    const file = this.#configFile();
    const errors = this.#control.validate(text);
    if (errors.length > 0) return { status: 400, body: { ok: false, errors } };
    const previous = await readFile(file, 'utf8');
    await writeAtomically(file, text);
    const applied = await this.#control.reload();
    if (applied.ok) {
      this.#logger.info({ file }, 'admin API: configuration replaced');
      return { status: 200, body: { ok: true } };
    }
    await writeAtomically(file, previous);
    const restored = await this.#control.reload();
    this.#logger.error({ file, error: applied.message, restored: restored.ok }, 'admin API: configuration could not be applied; the previous one was restored');
    return { status: 500, body: { ok: false, errors: [applied.message ?? 'reload failed'], rolledBack: restored.ok } };
  }
}

async function writeAtomically(file: string, text: string): Promise<void> {
  const tmp = `${file}.admin-${process.pid}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

function summarise(reports: ProcessReport[]): unknown {
  let requests = 0;
  let connections = 0;
  for (const r of reports) {
    requests += r.server.requests;
    connections += r.server.connections.total;
  }
  return {
    requests,
    connections,
    processes: reports.map((r) => ({ worker: r.worker, pid: r.pid, ...r.server, routes: r.routes.length })),
  };
}

/** The status of every route served by `handler`, per process. */
function byHandler(reports: ProcessReport[], handler: string): unknown[] {
  const out: unknown[] = [];
  for (const r of reports) {
    for (const route of r.routes) {
      if (route.handler !== handler) continue;
      out.push({ worker: r.worker, pid: r.pid, tenant: route.tenant, site: route.site, route: route.route, ...(route.status as object) });
    }
  }
  return out;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AdminHttpError(413, { error: `body larger than ${MAX_BODY} bytes` });
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  try {
    const value: unknown = JSON.parse(body.toString('utf8') || '{}');
    return value !== null && typeof value === 'object' ? value : {};
  } catch {
    throw new AdminHttpError(400, { error: 'body is not JSON' });
  }
}

function send(res: http.ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value, null, 2) + '\n', 'application/json');
}
