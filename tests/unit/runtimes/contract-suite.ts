/**
 * The one contract suite every Runtime passes (Hono-style: one shared test, run per implementation).
 * An engine's test file calls runContractSuite() with the case apps written in its language
 * (tests/fixtures/apps-contract/<language>/<case>.<ext>).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { GuestError, type AppInstance, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits } from '../../../runtimes/contract.js';

export const CONTRACT_CASES = ['hello', 'echo', 'json', 'async', 'status', 'bytes', 'throws', 'syntax', 'loop', 'memory', 'huge', 'router'] as const;
export type ContractCase = (typeof CONTRACT_CASES)[number];
export type ContractApps = Record<ContractCase, string>;

/** Limits the suite runs under: short deadline, a memory cap a bomb reaches quickly, a response cap under "huge". */
export const SUITE_LIMITS: RuntimeLimits = {
  deadlineMs: 1000,
  memoryBytes: 256 * 1024 * 1024,
  stackBytes: 1024 * 1024,
  maxResponseBytes: 8 * 1024 * 1024,
};

/** Reads the case apps of one language from tests/fixtures/apps-contract/<dir>/<case><ext>. */
export function loadContractApps(dir: string, ext: string): ContractApps {
  const root = join(process.cwd(), 'tests', 'fixtures', 'apps-contract', dir);
  const apps = {} as ContractApps;
  for (const c of CONTRACT_CASES) apps[c] = readFileSync(join(root, c + ext), 'utf8');
  return apps;
}

export function guestRequest(over: Partial<GuestRequest> = {}): GuestRequest {
  return {
    method: 'GET',
    path: '/',
    rawQuery: '',
    query: new Map(),
    headers: new Map([['host', ['localhost']]]),
    cookies: new Map(),
    params: {},
    protocol: 'h1',
    scheme: 'https',
    host: 'localhost',
    remoteAddress: '127.0.0.1',
    body: new Uint8Array(0),
    ...over,
  };
}

export function bodyBytes(res: GuestResponse): Uint8Array {
  if (res.body === null) return new Uint8Array(0);
  return typeof res.body === 'string' ? Buffer.from(res.body, 'utf8') : res.body;
}

export function bodyText(res: GuestResponse): string {
  return Buffer.from(bodyBytes(res)).toString('utf8');
}

export function header(res: GuestResponse, name: string): string | undefined {
  return res.headers.find(([k]) => k.toLowerCase() === name)?.[1];
}

async function rejectsWith(p: Promise<unknown>, kinds: readonly string[], what: string): Promise<GuestError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof GuestError, `${what}: expected a GuestError, got ${String(err)}`);
    assert.ok(kinds.includes(err.kind), `${what}: expected kind ${kinds.join(' or ')}, got ${err.kind}: ${err.message}`);
    return err;
  }
  assert.fail(`${what}: expected a rejection`);
}

export function runContractSuite(name: string, makeRuntime: () => Runtime, apps: ContractApps): void {
  describe(`Runtime contract: ${name}`, () => {
    const runtime = makeRuntime();
    const ext = runtime.extensions[0] ?? '';
    const live: AppInstance[] = [];
    const load = async (c: ContractCase): Promise<AppInstance> => {
      const app = await runtime.load({ file: `/virtual/apps/${c}${ext}`, code: apps[c] }, SUITE_LIMITS);
      live.push(app);
      return app;
    };
    after(() => {
      for (const app of live) {
        try {
          app.dispose();
        } catch {
          /* the dispose test checks this properly */
        }
      }
    });

    it('hello: 200 text/plain "hello"', async () => {
      const res = await (await load('hello')).handle(guestRequest());
      assert.equal(res.status, 200);
      assert.match(header(res, 'content-type') ?? '', /^text\/plain/);
      assert.equal(bodyText(res), 'hello');
    });

    it('handleNow, where offered, answers exactly as handle and throws what handle rejects with', async () => {
      const hello = await load('hello');
      if (hello.handleNow === undefined) return; // an engine that only answers through promises
      const viaPromise = await hello.handle(guestRequest());
      const viaNow = await hello.handleNow(guestRequest()); // a response now, or (some engines, slow calls) a promise
      assert.deepEqual({ ...viaNow, body: bodyText(viaNow) }, { ...viaPromise, body: bodyText(viaPromise) });
      const throws = await load('throws');
      assert.ok(throws.handleNow !== undefined);
      await assert.rejects(async () => throws.handleNow?.(guestRequest()), (err: unknown) => err instanceof GuestError && err.kind === 'exception');
      assert.equal(bodyText(await hello.handleNow(guestRequest())), bodyText(viaPromise)); // still serving
    });

    it('echo: the guest sees the pre-parsed request', async () => {
      const body = Buffer.from('héllo body');
      const res = await (await load('echo')).handle(
        guestRequest({
          method: 'POST',
          path: '/things/7',
          rawQuery: 'a=1&a=2&b=x+y',
          query: new Map([['a', ['1', '2']], ['b', ['x y']]]),
          headers: new Map([['host', ['example.com']], ['x-test', ['v1', 'v2']], ['content-type', ['text/plain']], ['x-name', ['Zoë ✓']]]),
          cookies: new Map([['sid', 'abc']]),
          params: { id: '7' },
          body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength),
        }),
      );
      assert.equal(res.status, 200);
      const seen = JSON.parse(bodyText(res)) as Record<string, unknown>;
      assert.equal(seen.method, 'POST');
      assert.equal(seen.path, '/things/7');
      assert.deepEqual(seen.query, { a: ['1', '2'], b: ['x y'] });
      assert.deepEqual((seen.headers as Record<string, string[]>)['x-test'], ['v1', 'v2']);
      assert.deepEqual((seen.headers as Record<string, string[]>)['x-name'], ['Zoë ✓']); // non-ASCII crosses intact
      assert.deepEqual(seen.cookies, { sid: 'abc' });
      assert.deepEqual(seen.params, { id: '7' });
      assert.equal(seen.bodyLength, body.length);
      assert.equal(seen.bodyText, 'héllo body');
    });

    it('echo: an engine reading the raw header list sees what the header map holds', async () => {
      const res = await (await load('echo')).handle(
        guestRequest({
          headers: new Map([['host', ['example.com']], ['x-test', ['v1', 'v2']], ['x-name', ['Zoë ✓']]]),
          rawHeaders: [':authority', 'example.com', 'Host', 'example.com', 'X-Test', 'v1', 'x-name', 'Zoë ✓', 'x-test', 'v2'],
        }),
      );
      const seen = JSON.parse(bodyText(res)) as { headers: Record<string, string[]> };
      assert.deepEqual(seen.headers['x-test'], ['v1', 'v2']);
      assert.deepEqual(seen.headers['x-name'], ['Zoë ✓']);
      assert.deepEqual(seen.headers.host, ['example.com']);
      assert.equal(seen.headers[':authority'], undefined);
    });

    it('json: reads a JSON body, answers JSON; invalid JSON is a 400', async () => {
      const app = await load('json');
      const ok = await app.handle(guestRequest({ method: 'POST', body: Buffer.from('{"a": 2, "b": 40}') }));
      assert.equal(ok.status, 200);
      assert.deepEqual(JSON.parse(bodyText(ok)), { sum: 42 });
      const bad = await app.handle(guestRequest({ method: 'POST', body: Buffer.from('{nope') }));
      assert.equal(bad.status, 400);
    });

    it('async: an async handler resolves; concurrent calls on one instance both answer', async () => {
      const app = await load('async');
      const [a, b] = await Promise.all([app.handle(guestRequest()), app.handle(guestRequest())]);
      assert.equal(bodyText(a), 'async');
      assert.equal(bodyText(b), 'async');
    });

    it('status: custom status and headers, empty body', async () => {
      const res = await (await load('status')).handle(guestRequest());
      assert.equal(res.status, 201);
      assert.equal(header(res, 'x-one'), '1');
      assert.equal(header(res, 'x-two'), '2');
      assert.equal(bodyBytes(res).length, 0);
    });

    it('bytes: binary bodies round-trip unchanged (NUL and high bytes included)', async () => {
      const input = new Uint8Array(4096);
      for (let i = 0; i < input.length; i++) input[i] = (i * 7 + 3) & 0xff;
      input[0] = 0;
      input[100] = 0;
      const res = await (await load('bytes')).handle(guestRequest({ method: 'POST', body: input }));
      assert.equal(res.status, 200);
      assert.equal(header(res, 'content-type'), 'application/octet-stream');
      assert.deepEqual(Buffer.from(bodyBytes(res)), Buffer.from(input));
    });

    it('throws: a guest exception is GuestError(exception) with its message; the instance keeps working', async () => {
      const app = await load('throws');
      const err = await rejectsWith(app.handle(guestRequest()), ['exception'], 'throws');
      assert.match(err.message, /boom/);
      await rejectsWith(app.handle(guestRequest()), ['exception'], 'throws again');
    });

    it('syntax: a load error names the line', async () => {
      const err = await rejectsWith(load('syntax'), ['load'], 'syntax');
      assert.equal(err.line, 3, `line of the syntax error (message: ${err.message})`);
    });

    it('loop: an infinite loop is stopped at the deadline and the host keeps going', async () => {
      const app = await load('loop');
      const started = Date.now();
      await rejectsWith(app.handle(guestRequest()), ['deadline'], 'loop');
      assert.ok(Date.now() - started < SUITE_LIMITS.deadlineMs + 3000, 'stopped near the deadline');
      const fresh = await load('hello');
      assert.equal(bodyText(await fresh.handle(guestRequest())), 'hello');
    });

    it('memory: a memory bomb fails the call, not the process', async () => {
      const app = await load('memory');
      await rejectsWith(app.handle(guestRequest()), ['memory', 'exception', 'deadline'], 'memory');
      const fresh = await load('hello');
      assert.equal(bodyText(await fresh.handle(guestRequest())), 'hello');
    });

    it('huge: a response over maxResponseBytes is GuestError(response)', async () => {
      const app = await load('huge');
      await rejectsWith(app.handle(guestRequest()), ['response'], 'huge');
    });

    it('router: the binding routes with params, methods and 404', async () => {
      const app = await load('router');
      const user = await app.handle(guestRequest({ path: '/users/42' }));
      assert.equal(user.status, 200);
      assert.deepEqual(JSON.parse(bodyText(user)), { id: '42' });
      const created = await app.handle(guestRequest({ method: 'POST', path: '/users', body: Buffer.from('{"name":"x"}') }));
      assert.equal(created.status, 201);
      const missing = await app.handle(guestRequest({ path: '/nope' }));
      assert.equal(missing.status, 404);
    });

    it('stats count calls, errors and deadlines; dispose is safe after errors', async () => {
      const app = await runtime.load({ file: `/virtual/apps/throws${ext}`, code: apps.throws }, SUITE_LIMITS);
      await rejectsWith(app.handle(guestRequest()), ['exception'], 'throws');
      assert.equal(app.stats.calls, 1);
      assert.equal(app.stats.errors, 1);
      app.dispose();
    });
  });
}
