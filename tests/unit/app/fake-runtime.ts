import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { RequestBody } from '../../../src/core/body.js';
import { HeaderMap } from '../../../src/core/headers.js';
import type { Logger } from '../../../src/core/logger.js';
import type { ModuleContext } from '../../../src/core/module.js';
import { Request, type ConnectionInfo } from '../../../src/core/request.js';
import { compilePattern } from '../../../src/server/router.js';
import {
  GuestError, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits, type RuntimeStats,
} from '../../../runtimes/contract.js';

/**
 * A tiny "language" for testing the app handler without a real engine. The first line of the
 * source decides what the app does:
 *   text <words>        answers 200 text/plain <words>
 *   echo                answers the GuestRequest as JSON (bodyText decoded as UTF-8)
 *   bytes               answers the body back as application/octet-stream
 *   status              answers 201, x-one: 1, x-two: 2, set-cookie twice, empty body
 *   slow <ms> <words>   waits <ms>, then answers <words>
 *   throw               GuestError('exception', 'boom', line 2) at request time
 *   deadline            GuestError('deadline') and the instance becomes broken
 *   memory              GuestError('memory') and the instance becomes broken
 *   huge                a body of maxResponseBytes + 1 bytes
 *   hang                never answers
 *   badheader           a header value with a newline
 *   syntax              load fails: GuestError('load', 'unexpected token', line 3)
 */
export class FakeRuntime implements Runtime {
  readonly id: string;
  readonly extensions: readonly string[];
  loads = 0;
  /** Every instance ever loaded, in order. */
  readonly instances: FakeInstance[] = [];
  /** When set, load() fails with this error (to test replacement retries). */
  failLoads: Error | null = null;

  /** now: instances offer handleNow (answers now for text and throw, a promise for the rest). */
  constructor(id = 'fake', extensions: readonly string[] = ['.fake'], private readonly now = false) {
    this.id = id;
    this.extensions = extensions;
  }

  async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
    this.loads++;
    await new Promise((r) => setImmediate(r));
    if (this.failLoads !== null) throw this.failLoads;
    const first = source.code.split('\n', 1)[0].trim();
    if (first === 'syntax') throw new GuestError('load', 'unexpected token', { file: source.file, line: 3 });
    const inst = new FakeInstance(first, limits);
    if (this.now) inst.handleNow = (req) => inst.answerNow(req);
    this.instances.push(inst);
    return inst;
  }

  get live(): FakeInstance[] {
    return this.instances.filter((i) => !i.disposed);
  }
}

export class FakeInstance implements AppInstance {
  readonly program: string;
  readonly limits: RuntimeLimits;
  broken = false;
  disposed = false;
  active = 0;
  maxActive = 0;
  readonly stats: RuntimeStats = { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
  handleNow?: (req: GuestRequest) => GuestResponse | Promise<GuestResponse>;
  /** Calls answered before handleNow returned. */
  answeredNow = 0;

  constructor(program: string, limits: RuntimeLimits) {
    this.program = program;
    this.limits = limits;
  }

  async handle(req: GuestRequest): Promise<GuestResponse> {
    if (this.disposed) throw new Error('instance used after dispose');
    this.stats.calls++;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      return await this.#run(req);
    } catch (err) {
      this.stats.errors++;
      throw err;
    } finally {
      this.active--;
    }
  }

  /** handleNow's body: like an engine that finishes quick calls in place and continues slow ones. */
  answerNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> {
    const [cmd, ...args] = this.program.split(' ');
    if (cmd === 'text') {
      this.stats.calls++;
      this.answeredNow++;
      return { status: 200, headers: [], body: args.join(' ') };
    }
    if (cmd === 'throw') {
      this.stats.calls++;
      this.stats.errors++;
      throw new GuestError('exception', 'boom', { line: 2 });
    }
    return this.handle(req);
  }

  async #run(req: GuestRequest): Promise<GuestResponse> {
    const [cmd, ...args] = this.program.split(' ');
    const text = (s: string): GuestResponse => ({ status: 200, headers: [], body: s });
    switch (cmd) {
      case 'text':
        return text(args.join(' '));
      case 'echo':
        return {
          status: 200,
          headers: [['content-type', 'application/json']],
          body: JSON.stringify({
            method: req.method, path: req.path, rawQuery: req.rawQuery, query: Object.fromEntries(req.query),
            headers: Object.fromEntries(req.headers), cookies: Object.fromEntries(req.cookies), params: req.params,
            protocol: req.protocol, scheme: req.scheme, host: req.host, remoteAddress: req.remoteAddress,
            bodyText: Buffer.from(req.body).toString('utf8'),
          }),
        };
      case 'bytes':
        return { status: 200, headers: [['content-type', 'application/octet-stream']], body: req.body };
      case 'status':
        return { status: 201, headers: [['X-One', '1'], ['x-two', '2'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2'], ['content-length', '99']], body: null };
      case 'slow':
        await new Promise((r) => setTimeout(r, Number(args[0])));
        return text(args.slice(1).join(' '));
      case 'throw':
        throw new GuestError('exception', 'boom\n    at handler (app.fake:2)', { line: 2 });
      case 'deadline':
        this.broken = true;
        this.stats.deadlines++;
        throw new GuestError('deadline', `interrupted after ${this.limits.deadlineMs} ms`, { line: 1 });
      case 'memory':
        this.broken = true;
        throw new GuestError('memory', 'out of memory');
      case 'huge':
        return { status: 200, headers: [], body: new Uint8Array(this.limits.maxResponseBytes + 1) };
      case 'hang':
        return new Promise<GuestResponse>(() => {});
      case 'badheader':
        return { status: 200, headers: [['x-bad', 'a\nb']], body: 'x' };
      default:
        throw new GuestError('exception', `unknown program ${cmd}`);
    }
  }

  dispose(): void {
    this.disposed = true;
  }
}

const CONN: ConnectionInfo = { id: 1, remoteAddress: '192.0.2.7', remotePort: 5000, localAddress: '127.0.0.1', localPort: 8080, tls: null };

/** A request as the dispatcher hands it to the route `route` (params and route filled in). */
export function request(
  target: string,
  opts: { route?: string; method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; limit?: number; protocol?: 'h1' | 'h2' } = {},
): Request {
  const body = opts.body === undefined ? null : Buffer.from(opts.body);
  const req = new Request({
    method: opts.method ?? 'GET',
    scheme: 'https',
    authority: 'example.test:8443',
    target,
    protocol: opts.protocol ?? 'h1',
    headers: HeaderMap.fromObject(opts.headers ?? {}),
    body: new RequestBody(body === null ? null : Readable.from([body]), body === null ? 0 : null, opts.limit ?? 1024 * 1024),
    conn: CONN,
  });
  const route = opts.route ?? '/*';
  const params = compilePattern(route)(req.path);
  if (params === null) throw new Error(`${target} does not match ${route}`);
  req.params = params;
  req.route = route;
  return req;
}

export interface LogLine {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

/** A logger that keeps lines for assertions. */
export function recordingLogger(lines: LogLine[] = []): Logger & { lines: LogLine[] } {
  const at = (level: string) => (a: unknown, b?: string) => {
    if (typeof a === 'string') lines.push({ level, obj: {}, msg: a });
    else lines.push({ level, obj: a as Record<string, unknown>, msg: b ?? '' });
  };
  const logger = {
    lines,
    trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal'),
    child: () => logger,
  };
  return logger as Logger & { lines: LogLine[] };
}

export interface TempDir {
  dir: string;
  write(name: string, text: string): string;
  ctx(logger: Logger): ModuleContext;
  rm(): void;
}

export function tempDir(): TempDir {
  const dir = mkdtempSync(join(tmpdir(), 'anomaly-app-'));
  return {
    dir,
    write(name, text) {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    },
    ctx: (logger) => ({ logger, baseDir: dir, dataDir: dir }),
    rm: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function bodyText(res: { body: unknown }): Promise<string> {
  const b = res.body;
  if (b === null) return '';
  if (typeof b === 'string') return b;
  if (b instanceof Uint8Array) return Buffer.from(b).toString('utf8');
  throw new Error('unexpected body type');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds or `ms` pass; returns whether it held. */
export async function until(check: () => boolean | Promise<boolean>, ms = 2000, step = 10): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await sleep(step);
  }
  return check();
}
