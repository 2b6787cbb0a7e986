import { Readable } from 'node:stream';
import { RequestBody } from '../../../src/core/body.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Request } from '../../../src/core/request.js';
import { Response, type ResponseBody, type ResponseHeaders } from '../../../src/core/response.js';
import { cacheHandler, type CacheLayerOptions } from '../../../src/cache/layer.js';
import { compileKey, DEFAULT_KEY } from '../../../src/cache/key.js';
import type { StoragePolicy } from '../../../src/cache/policy.js';
import { MemoryStore } from '../../../src/cache/stores/memory.js';
import type { CacheStore } from '../../../src/cache/stores/store.js';
import { CacheZone } from '../../../src/cache/zone.js';
import type { Handler } from '../../../src/core/handler.js';

const conn = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 80, tls: null };

export function request(target: string, headers: Record<string, string> = {}, method = 'GET'): Request {
  const raw: string[] = [];
  for (const [k, v] of Object.entries(headers)) raw.push(k, v);
  return new Request({ method, scheme: 'http', authority: 'example.test', target, protocol: 'h1', headers: new HeaderMap(raw), body: new RequestBody(null, 0, 1024), conn });
}

export const POLICY: StoragePolicy = {
  defaultTtl: 0,
  heuristic: true,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  keepStale: 3600_000,
  storeSetCookie: false,
  maxObjectSize: 1024 * 1024,
};

/** A fake clock the cache and the origin share. */
export class Clock {
  t = Date.parse('2026-01-01T00:00:00Z');
  now = (): number => this.t;
  advance(seconds: number): void {
    this.t += seconds * 1000;
  }
  httpDate(): string {
    return new Date(this.t).toUTCString();
  }
}

export interface OriginCall {
  readonly req: Request;
}

/** An origin whose answer each test scripts; counts and records calls. */
export class FakeOrigin {
  calls: OriginCall[] = [];
  answer: (req: Request, n: number) => Response | Promise<Response> = () => Response.text('ok');
  readonly handler: Handler = (req) => {
    this.calls.push({ req });
    return this.answer(req, this.calls.length);
  };
}

export function cache(origin: FakeOrigin, clock: Clock, overrides: Partial<CacheLayerOptions> & { policy?: Partial<StoragePolicy>; store?: CacheStore } = {}) {
  const store = overrides.store ?? new MemoryStore(10 * 1024 * 1024, clock.now);
  const zone = new CacheZone('test', store);
  const options: CacheLayerOptions = {
    zone,
    key: compileKey(DEFAULT_KEY),
    storage: { ...POLICY, ...overrides.policy },
    honorRequestCacheControl: true,
    lockTimeout: 5000,
    purgeToken: 'purge-secret',
    statusName: 'anomaly',
    logger: silentLogger,
    now: clock.now,
    ...overrides,
  };
  return { handle: cacheHandler(origin.handler, options), zone, store };
}

export function res(status: number, body: ResponseBody, headers: ResponseHeaders): Response {
  return new Response(status, body, headers);
}

export async function bodyText(r: Response): Promise<string> {
  const b = r.body;
  if (b === null) return '';
  if (typeof b === 'string') return b;
  if (b instanceof Uint8Array) return Buffer.from(b).toString();
  const chunks: Buffer[] = [];
  for await (const c of b as Readable) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks).toString();
}

export function streamOf(parts: string[], delayMs = 1): Readable {
  let i = 0;
  return new Readable({
    read() {
      setTimeout(() => this.push(i < parts.length ? Buffer.from(parts[i++]) : null), delayMs);
    },
  });
}

export function header(r: Response, name: string): string | undefined {
  const v = r.headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
}
