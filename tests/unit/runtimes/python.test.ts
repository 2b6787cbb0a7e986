/**
 * The Python engine against the shared contract suite, on the main thread under native/watchdog (the
 * default where it builds) and in worker threads (the fallback), plus Python specifics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GuestError, type AppInstance, type GuestResponse } from '../../../runtimes/contract.js';
import { decodeAnswer, encodeFrame } from '../../../runtimes/python/marshal.js';
import { pythonRuntime } from '../../../runtimes/python/index.js';
import { loadWatchdog } from '../../../runtimes/python/watchdog.js';
import { bodyText, guestRequest, header, loadContractApps, runContractSuite, SUITE_LIMITS } from './contract-suite.js';

// One group for the whole suite: every case app shares the same few interpreters (boot is the slow part).
runContractSuite('pyodide', () => pythonRuntime({ group: () => 'contract' }), loadContractApps('python', '.py'));
runContractSuite('pyodide (worker threads)', () => pythonRuntime({ group: () => 'contract-workers', thread: 'worker' }), loadContractApps('python', '.py'));

describe('Python marshalling', () => {
  it('a value with NUL (from %00) switches the frame to JSON; repeated names are marked', () => {
    const plain = encodeFrame(guestRequest({ query: new Map([['a', ['1', '2']]]) }));
    assert.ok(plain.startsWith('GET\0'));
    assert.ok(plain.includes('\0*2\0a\x001\0a\x002\0'), plain);
    const nul = encodeFrame(guestRequest({ query: new Map([['a', ['x\0y']]]) }));
    assert.ok(nul.startsWith('['));
    assert.deepEqual(JSON.parse(nul).slice(0, 2), ['GET', '/']);
  });

  it('headers as received: pseudo-headers left out, names lower-cased, repeats found by the guest', async () => {
    const raw = [':method', 'GET', ':path', '/', 'X-Test', 'a', 'x-test', 'b', 'Host', 'h'];
    const frame = encodeFrame({ ...guestRequest(), rawHeaders: raw });
    assert.ok(frame.includes('\x003\0x-test\0a\0x-test\0b\0host\0h\0'), JSON.stringify(frame));
  });

  it('the answer string: status, headers, a body that may contain NUL, or none', () => {
    assert.deepEqual(decodeAnswer('s201\x002\x003\0a\x001\0b\x00\0x\0y'), { status: 201, headers: [['a', '1'], ['b', '']], body: 'x\0y' });
    assert.deepEqual(decodeAnswer('n204\x000\x000\0'), { status: 204, headers: [], body: null });
    // The length is in code points (Python's len): a pair of surrogates is one.
    assert.deepEqual(decodeAnswer('s200\x000\x002\0😀x'), { status: 200, headers: [], body: '😀x' });
  });

  it('the answer string: a NUL inside a header shifts the body, and the answer is refused', () => {
    // Python sent one header ["x", "a\0b"] and body "ok" (2 characters): the parse takes "b\0ok" as the body.
    assert.throws(() => decodeAnswer('s200\x001\x002\0x\0a\0b\0ok', '/app.py'), (e: unknown) => e instanceof GuestError && e.kind === 'response' && e.file === '/app.py');
    assert.throws(() => decodeAnswer('n200\x001\x000\0x\0a\0\0'), (e: unknown) => e instanceof GuestError && e.kind === 'response');
  });
});

describe('Python specifics', () => {
  const rt = pythonRuntime({ group: () => 'specifics', minLoadDeadlineMs: 3000 });
  const live: AppInstance[] = [];
  const load = async (code: string, file = '/virtual/spec/app.py', limits = SUITE_LIMITS): Promise<AppInstance> => {
    const app = await rt.load({ file, code }, limits);
    live.push(app);
    return app;
  };
  after(() => {
    for (const app of live) app.dispose();
  });

  it('answer shapes: str, bytes, tuple, None, JSON for other values, Response.set/append', async () => {
    const app = await load(`import anomaly
def handler(req):
    kind = req.query.get("k")
    if kind == "tuple": return ("made", 201, {"x-a": "1"})
    if kind == "none": return None
    if kind == "list": return [1, "two", None]
    if kind == "bytes": return b"\\x00\\x01"
    if kind == "resp": return anomaly.Response.text("t").set("x-one", 1).append("set-cookie", "a=1").append("set-cookie", "b=2")
    return "plain"
`);
    const ask = (k: string) => app.handle(guestRequest({ query: new Map([['k', [k]]]) }));
    const tuple = await ask('tuple');
    assert.equal(tuple.status, 201);
    assert.equal(header(tuple, 'x-a'), '1');
    assert.equal(bodyText(tuple), 'made');
    const none = await ask('none');
    assert.equal(none.status, 204);
    assert.equal(none.body, null);
    assert.deepEqual(JSON.parse(bodyText(await ask('list'))), [1, 'two', null]);
    const bytes = await ask('bytes');
    assert.equal(header(bytes, 'content-type'), 'application/octet-stream');
    assert.deepEqual([...(bytes.body as Uint8Array)], [0, 1]);
    const resp = await ask('resp');
    assert.deepEqual(resp.headers.filter(([k]) => k === 'set-cookie').map(([, v]) => v), ['a=1', 'b=2']);
    assert.equal(header(resp, 'x-one'), '1');
    assert.equal(bodyText(await ask('other')), 'plain');
  });

  it('the request: repeated headers and query values, NUL in a value, form bodies, params', async () => {
    const app = await load(`import json
def handler(req):
    return json.dumps({"h": req.headers.all("X-T"), "first": req.headers["x-t"], "q": req.query.to_dict(),
                       "form": req.form().to_dict(), "params": req.params, "cookies": req.cookies,
                       "remote": req.remote, "scheme": req.scheme, "protocol": req.protocol})
`);
    const res = await app.handle(guestRequest({
      method: 'POST',
      headers: new Map([['x-t', ['1', '2']]]),
      query: new Map([['a', ['x\0y']], ['b', ['1']]]),
      params: { id: '7' },
      cookies: new Map([['sid', 'abc']]),
      body: Buffer.from('f=1+2&f=%C3%A9&g='),
    }));
    assert.deepEqual(JSON.parse(bodyText(res)), {
      h: ['1', '2'], first: '1', q: { a: ['x\0y'], b: ['1'] }, form: { f: ['1 2', 'é'], g: [''] }, params: { id: '7' },
      cookies: { sid: 'abc' }, remote: '127.0.0.1', scheme: 'https', protocol: 'h1',
    });
  });

  it('a WSGI app (environ, start_response) runs unmodified', async () => {
    const app = await load(`def app(environ, start_response):
    body = environ["wsgi.input"].read()
    start_response("202 Accepted", [("Content-Type", "text/plain"), ("X-Path", environ["PATH_INFO"])])
    yield b"got "
    yield body
`);
    const res = await app.handle(guestRequest({ method: 'PUT', path: '/a%20b', body: Buffer.from('data') }));
    assert.equal(res.status, 202);
    assert.equal(header(res, 'x-path'), '/a b');
    assert.equal(Buffer.from(res.body as Uint8Array).toString(), 'got data');
  });

  it('exceptions carry file and line; a top-level error is a load error with its line', async () => {
    const app = await load('x = 1\n\ndef handler(req):\n    return {}["missing"]\n', '/virtual/spec/err.py');
    await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && e.line === 4 && /KeyError/.test(e.message));
    await assert.rejects(load('import nonexistent_module_xyz\n'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && e.line === 1 && /ModuleNotFoundError/.test(e.message));
    await assert.rejects(load('x = 1\n'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && /must define `app`/.test(e.message));
  });

  it('an async handler waiting past its deadline is cancelled; the worker survives', async () => {
    const app = await load('import asyncio\nasync def handler(req):\n    await asyncio.sleep(30)\n', '/virtual/spec/async.py', { ...SUITE_LIMITS, deadlineMs: 300 });
    const started = Date.now();
    await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /cancelled at the deadline/.test(e.message));
    assert.ok(Date.now() - started < 2000);
    const other = await load('def handler(req):\n    return "alive"\n', '/virtual/spec/alive.py');
    assert.equal(bodyText(await other.handle(guestRequest())), 'alive');
  });

  it('time.sleep and a long C call are stopped by terminating the worker: deadline, broken', async () => {
    for (const body of ['import time\n    time.sleep(30)', 'return str(sum(range(10**10)))']) {
      const app = await load(`def handler(req):\n    ${body}\n`, '/virtual/spec/runaway.py', { ...SUITE_LIMITS, deadlineMs: 300 });
      const started = Date.now();
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
      assert.ok(Date.now() - started < 2000, 'stopped soon after the deadline');
      assert.equal(app.broken, true);
    }
  });

  it('an idle instance whose worker was stopped under it loads itself on a live worker and answers', async () => {
    // Two versions of one app share a worker (as during a reload); the old one runs away.
    const own = pythonRuntime({ group: () => 'relocate' });
    const file = '/virtual/spec/shared.py';
    const runaway = await own.load({ file, code: 'import time\ndef handler(req):\n    time.sleep(30)\n' }, { ...SUITE_LIMITS, deadlineMs: 300 });
    const idle = await own.load({ file, code: 'n = 0\ndef handler(req):\n    global n\n    n += 1\n    return f"idle {n}"\n' }, SUITE_LIMITS);
    live.push(runaway, idle);
    assert.equal(bodyText(await idle.handle(guestRequest())), 'idle 1');
    await assert.rejects(runaway.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
    assert.equal(bodyText(await idle.handle(guestRequest())), 'idle 1', 'reloaded on a fresh worker (its state starts over)');
    assert.equal(idle.broken, false);
  });

  it('a loop at the top level of the file is a load error', async () => {
    await assert.rejects(load('while True:\n    pass\n', '/virtual/spec/toploop.py'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && /interrupted|terminated/.test(e.message));
  });

  it('a list growing past the memory limit is a memory error and the instance is broken', async () => {
    const app = await load('def handler(req):\n    a = []\n    while True:\n        a.append("x" * 1000000 + str(len(a)))\n', '/virtual/spec/mem.py', { ...SUITE_LIMITS, memoryBytes: 32 * 1024 * 1024 });
    await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'memory');
    assert.equal(app.broken, true);
  });

  it('a header with NUL is refused (it would shift the answer\'s fields)', async () => {
    const app = await load('import anomaly\ndef handler(req):\n    return anomaly.Response("x", 200, {"x-a": "a\\x00b"})\n', '/virtual/spec/nul.py');
    await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'response' && /NUL/.test(e.message));
  });

  it('print() lines reach the print callback with the app', async () => {
    const lines: string[] = [];
    const printing = pythonRuntime({ group: () => 'print', print: (line, app) => lines.push(`${app}: ${line}`) });
    const app = await printing.load({ file: '/virtual/spec/print.py', code: 'print("loaded")\ndef handler(req):\n    print("called")\n    return "ok"\n' }, SUITE_LIMITS);
    await app.handle(guestRequest());
    app.dispose();
    assert.deepEqual(lines, ['print: loaded', 'print: called']);
  });
});

describe('Python on the main thread (native/watchdog)', () => {
  let available = false;
  before(async () => {
    available = typeof (await loadWatchdog()) !== 'string';
  });
  const rt = pythonRuntime({ group: () => 'main-thread', thread: 'main', minLoadDeadlineMs: 3000 });
  const live: AppInstance[] = [];
  const load = async (code: string, file: string, deadlineMs = 300): Promise<AppInstance> => {
    const app = await rt.load({ file, code }, { ...SUITE_LIMITS, deadlineMs });
    live.push(app);
    return app;
  };
  after(() => {
    for (const app of live) app.dispose();
  });

  it('answers a synchronous handler before handleNow returns (no promise)', async (t) => {
    if (!available) return t.skip('no watchdog here');
    const app = await load('def handler(req):\n    return "now"\n', '/virtual/main/now.py');
    const answer = app.handleNow?.(guestRequest());
    assert.ok(answer !== undefined && !(answer instanceof Promise));
    assert.equal(bodyText(answer as GuestResponse), 'now');
  });

  it('stops Python loops softly again and again (KeyboardInterrupt); the interpreter and its other apps go on', async (t) => {
    if (!available) return t.skip('no watchdog here');
    const counter = await load('n = 0\ndef handler(req):\n    global n\n    n += 1\n    return str(n)\n', '/virtual/main/counter.py');
    const loops = ['while True:\n        pass', 'x = 0\n    while True:\n        x += 1', 'for i in range(10**10):\n        pass'];
    for (let i = 0; i < 6; i++) {
      const app = await load(`def handler(req):\n    ${loops[i % loops.length]}\n# ${i}\n`, '/virtual/main/loop.py');
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /interrupted/.test(e.message));
      // The same interpreter: the counter keeps its state, and no interrupt leaks into its calls.
      for (let k = 0; k < 50; k++) await counter.handle(guestRequest());
    }
    assert.equal(bodyText(await counter.handle(guestRequest())), '301');
  });

  it('terminates time.sleep and a long C call after the grace; the interpreter is replaced and its apps load again', async (t) => {
    if (!available) return t.skip('no watchdog here');
    const bystander = await load('def handler(req):\n    return "bystander"\n', '/virtual/main/bystander.py');
    for (const body of ['import time\n    time.sleep(100)', 'return str(sum(range(10**10)))']) {
      const app = await load(`def handler(req):\n    ${body}\n`, '/virtual/main/stuck.py');
      const started = Date.now();
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /discarded/.test(e.message));
      assert.ok(Date.now() - started < 1500, `stopped after ${Date.now() - started} ms`);
      assert.equal(app.broken, true);
      // The bystander's interpreter is gone: it loads itself on the replacement before answering.
      assert.equal(bodyText(await bystander.handle(guestRequest())), 'bystander');
    }
  });

  it('a slice of an async handler that never yields is stopped too; so is one that awaits forever', async (t) => {
    if (!available) return t.skip('no watchdog here');
    const spin = await load('import asyncio\nasync def handler(req):\n    await asyncio.sleep(0.01)\n    while True:\n        pass\n', '/virtual/main/spin.py');
    await assert.rejects(spin.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
    const wait = await load('import asyncio\nasync def handler(req):\n    await asyncio.sleep(60)\n', '/virtual/main/wait.py');
    await assert.rejects(wait.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /cancelled at the deadline/.test(e.message));
    const routed = await load('import asyncio\nfrom anomaly import App\napp = App()\n@app.get("/")\nasync def w(req):\n    await asyncio.sleep(60)\n', '/virtual/main/routed.py');
    await assert.rejects(routed.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline' && /cancelled at the deadline/.test(e.message));
    const fine = await load('import asyncio\nasync def handler(req):\n    await asyncio.sleep(0)\n    return "fine"\n', '/virtual/main/fine.py');
    assert.equal(bodyText(await fine.handle(guestRequest())), 'fine');
  });
});

