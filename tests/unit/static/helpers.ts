import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { RequestBody } from '../../../src/core/body.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { silentLogger } from '../../../src/core/logger.js';
import { Request, type ConnectionInfo } from '../../../src/core/request.js';
import { isFileBody, type Response } from '../../../src/core/response.js';
import { readFileSync } from 'node:fs';
import { staticModule, type StaticConfigInput } from '../../../src/handlers/static/index.js';

const CONN: ConnectionInfo = { id: 1, remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 8080, tls: null };

/** A request as the dispatcher hands it over for a route "/*" (params['*'] = path without its leading slash). */
export function request(target: string, headers: Record<string, string> = {}, method = 'GET', prefix = ''): Request {
  const flat: string[] = [];
  for (const [k, v] of Object.entries(headers)) flat.push(k, v);
  const req = new Request({
    method,
    scheme: 'http',
    authority: 'localhost',
    target,
    protocol: 'h1',
    headers: new HeaderMap(flat),
    body: new RequestBody(null, 0, 0),
    conn: CONN,
  });
  const path = req.path;
  if (path === prefix) req.params = { '*': '' };
  else if (path.startsWith(prefix + '/')) req.params = { '*': path.slice(prefix.length + 1) };
  return req;
}

export interface Site {
  root: string;
  write(rel: string, content: string | Buffer): string;
  rm(): void;
}

export function makeSite(files: Record<string, string | Buffer>): Site {
  const base = mkdtempSync(join(tmpdir(), 'anomaly-static-'));
  const root = join(base, 'root');
  mkdirSync(root);
  const site: Site = {
    root,
    write(rel, content) {
      const p = join(root, rel);
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, content);
      return p;
    },
    rm() {
      rmSync(base, { recursive: true, force: true });
    },
  };
  for (const [rel, content] of Object.entries(files)) site.write(rel, content);
  return site;
}

export async function handlerFor(config: Omit<StaticConfigInput, 'root'> & { root: string }) {
  return staticModule.create(config, { logger: silentLogger, baseDir: '/', dataDir: '/tmp' });
}

/** The response body as bytes, whatever its kind. */
export async function bodyOf(res: Response): Promise<Buffer> {
  const b = res.body;
  if (b === null) return Buffer.alloc(0);
  if (typeof b === 'string') return Buffer.from(b);
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (isFileBody(b)) return readFileSync(b.path).subarray(b.start, b.end);
  const chunks: Buffer[] = [];
  for await (const c of b as Readable) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

export function header(res: Response, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
