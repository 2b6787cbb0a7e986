/** The Lua engines (fengari, wasmoon) against the shared contract suite, plus Lua-specific checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GuestError, type Runtime } from '../../../runtimes/contract.js';
import { fengariRuntime } from '../../../runtimes/lua-fengari/index.js';
import { wasmoonRuntime } from '../../../runtimes/lua-wasmoon/index.js';
import { bodyText, guestRequest, loadContractApps, runContractSuite, SUITE_LIMITS } from './contract-suite.js';

const apps = loadContractApps('lua', '.lua');
runContractSuite('fengari', fengariRuntime, apps);
runContractSuite('wasmoon', wasmoonRuntime, apps);

function specific(name: string, make: () => Runtime): void {
  describe(`Lua specifics: ${name}`, () => {
    const rt = make();
    const load = (code: string, file = '/virtual/app.lua') => rt.load({ file, code }, SUITE_LIMITS);

    it('sandbox: no io/os.execute/debug/package/load of bytecode, only "anomaly" can be required', async () => {
      const app = await load(`return function()
        local seen = {}
        for _, n in ipairs({ "io", "debug", "package", "dofile", "loadfile", "loadstring" }) do seen[#seen + 1] = tostring(_G[n]) end
        seen[#seen + 1] = tostring(os.execute); seen[#seen + 1] = tostring(os.getenv); seen[#seen + 1] = tostring(string.dump)
        seen[#seen + 1] = tostring(pcall(require, "os"))
        seen[#seen + 1] = type(os.time())
        return table.concat(seen, ",")
      end`);
      assert.equal(bodyText(await app.handle(guestRequest())), 'nil,nil,nil,nil,nil,nil,nil,nil,nil,false,number');
    });

    it('runtime errors carry file and line', async () => {
      const app = await load('local x = 1\nreturn function()\n  local t = nil\n  return t.field\nend', '/virtual/err.lua');
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && e.line === 4 && e.file === '/virtual/err.lua');
    });

    it('a top-level error is a load error', async () => {
      await assert.rejects(load('error("at load")'), (e: unknown) => e instanceof GuestError && e.kind === 'load' && e.line === 1);
    });

    it('headers and query are read lazily; names are case-insensitive', async () => {
      const app = await load(`return function(req) return (req.headers:get("X-Test") or "-") .. "|" .. (req.query:get("a") or "-") .. "|" .. tostring(req.query:get("zz")) end`);
      const res = await app.handle(guestRequest({ headers: new Map([['x-test', ['v1', 'v2']]]), query: new Map([['a', ['1']]]) }));
      assert.equal(bodyText(res), 'v1|1|nil');
    });

    it('router: 405 with allow, *rest, percent-decoded params, form bodies', async () => {
      const app = await load(`local a = require("anomaly")
        local app = a.App.new()
        app:get("/files/*path", function(req) return req.params.path end)
        app:get("/u/:name", function(req) return req.params.name end)
        app:post("/form", function(req) local f, all = req:form() return f.x .. "/" .. #all.x .. "/" .. f.y end)
        return app`);
      assert.equal(bodyText(await app.handle(guestRequest({ path: '/files/a/b%20c.txt' }))), 'a/b c.txt');
      assert.equal(bodyText(await app.handle(guestRequest({ path: '/u/j%C3%B6rg' }))), 'jörg');
      const wrong = await app.handle(guestRequest({ method: 'DELETE', path: '/u/x' }));
      assert.equal(wrong.status, 405);
      assert.deepEqual(wrong.headers.find(([k]) => k === 'allow'), ['allow', 'GET']);
      assert.equal(bodyText(await app.handle(guestRequest({ method: 'POST', path: '/form', body: Buffer.from('x=1+2&x=3&y=%C3%A9') }))), '1 2/2/é');
    });

    it('json: encode/decode round trip (unicode escapes, nesting, null, empty array)', async () => {
      const app = await load(`local a = require("anomaly")
        return function(req) local v = assert(a.decode(req.body)) return a.json(v) end`);
      const value = { s: 'é\u0001"\\\n😀', n: [1, -2.5, 1e21, 0], t: true, f: false, z: null, e: [], o: {} };
      const res = await app.handle(guestRequest({ body: Buffer.from(JSON.stringify(value).replace('😀', '\\ud83d\\ude00')) }));
      assert.deepEqual(JSON.parse(bodyText(res)), value);
    });

    it('invalid UTF-8 from the guest does not break the host; encode errors are guest exceptions', async () => {
      const app = await load(`local a = require("anomaly")
        return function(req)
          if req.body == "fn" then return a.json({ f = function() end }) end
          return { status = 200, headers = { ["x-b"] = "\\255ok" }, body = tostring(req.headers:get("\\255")) }
        end`);
      const res = await app.handle(guestRequest());
      assert.equal(bodyText(res), 'nil');
      assert.equal(res.headers.find(([k]) => k === 'x-b')?.[1], '\ufffdok');
      await assert.rejects(app.handle(guestRequest({ body: Buffer.from('fn') })), (e: unknown) => e instanceof GuestError && e.kind === 'exception' && /cannot encode/.test(e.message));
      assert.equal(app.broken, false);
    });

    it('a deadline escalates through nested pcall and marks the instance broken', async () => {
      const app = await load('return function() local n = 0 while true do pcall(function() while true do n = n + 1 end end) end end');
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'deadline');
      assert.equal(app.broken, true);
      assert.equal(app.stats.deadlines, 1);
      app.dispose();
    });

    it('string doubling is stopped before it takes the process down', async () => {
      const app = await load('return function() local s = "x" while true do s = s .. s end end');
      await assert.rejects(app.handle(guestRequest()), (e: unknown) => e instanceof GuestError && e.kind === 'memory');
      app.dispose();
    });
  });
}

specific('fengari', fengariRuntime);
specific('wasmoon', wasmoonRuntime);

describe('wasmoon connection fields', () => {
  it('each request sees its own protocol, scheme, host and client, however they alternate', async () => {
    const app = await wasmoonRuntime().load({
      file: '/virtual/conn.lua',
      code: 'return function(req) return table.concat({ req.protocol, req.scheme, req.host, req.remote, req.method, req.path }, " ") end',
    }, SUITE_LIMITS);
    const a = { protocol: 'h1', scheme: 'http', host: 'a.example', remoteAddress: '10.0.0.1', method: 'GET', path: '/a' } as const;
    const b = { protocol: 'h2', scheme: 'https', host: 'b.example', remoteAddress: '::1', method: 'POST', path: '/é' } as const;
    for (const r of [a, a, b, a, { ...a, remoteAddress: '10.0.0.2' }, b]) {
      const res = await app.handle(guestRequest(r));
      assert.equal(bodyText(res), `${r.protocol} ${r.scheme} ${r.host} ${r.remoteAddress} ${r.method} ${r.path}`);
    }
    app.dispose();
  });
});

describe('wasmoon answer bodies', () => {
  it('short ASCII bodies come back as strings, anything else as exact bytes', async () => {
    const app = await wasmoonRuntime().load({
      file: '/virtual/bodies.lua',
      code: `return function(req)
        local k = req.path:sub(2)
        if k == "ascii" then return "plain\\0text" end
        if k == "utf8" then return "h\\195\\169llo" end
        if k == "binary" then return "\\255\\0\\128" end
        return string.rep("x", 5000)
      end`,
    }, SUITE_LIMITS);
    const cases: Array<[string, 'string' | 'object', Uint8Array]> = [
      ['ascii', 'string', Buffer.from('plain\0text', 'latin1')],
      ['utf8', 'object', Buffer.from('héllo', 'utf8')],
      ['binary', 'object', Uint8Array.from([255, 0, 128])],
      ['long', 'object', Buffer.alloc(5000, 'x')],
    ];
    for (const [path, kind, bytes] of cases) {
      const res = await app.handle(guestRequest({ path: '/' + path }));
      assert.equal(typeof res.body, kind, path);
      const got = typeof res.body === 'string' ? Buffer.from(res.body, 'utf8') : Buffer.from(res.body as Uint8Array);
      assert.deepEqual(got, Buffer.from(bytes), path);
    }
    app.dispose();
  });
});

describe('wasmoon raw exports', () => {
  it("calls the WASM instance's exports directly, not wasmoon's assertion shims", async () => {
    const { loadRawLua } = await import('../../../runtimes/lua-wasmoon/raw.js');
    const m = await loadRawLua();
    // A WASM export prints as native code; the shims are JS functions that look the export up by name.
    for (const fn of [m._lua_pcallk, m._lua_pushlstring, m._realloc]) assert.match(String(fn), /\[native code\]/);
    const p = m._malloc(16);
    assert.ok(p > 0);
    m._free(p);
  });
});
