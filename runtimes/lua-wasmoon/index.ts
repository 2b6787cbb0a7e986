/**
 * Lua apps on wasmoon (Lua 5.4 in WASM): chosen with `engine: wasmoon` (no extension of its own).
 *
 * Same guest protocol as the fengari adapter (bindings/lua/anomaly.lua's dispatch, lazy host accessors),
 * driven through the raw Emscripten exports. dispatch and the app stay on the state's stack (slots 1 and
 * 2) so a call needs no registry lookups (whose integer keys would be 64-bit BigInts here).
 * Limits: a custom lua_Alloc caps the state's memory exactly (an allocation over memoryBytes fails and
 * Lua raises "not enough memory"); a count hook checks the deadline and escalates like fengari's.
 */
import { performance } from 'node:perf_hooks';
import {
  GuestError, JSON_HEADERS, TEXT_HEADERS, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits,
  type RuntimeStats,
} from '../contract.js';
import { SANDBOX_LUA, guestErrorFromLua, lowerName, newStats, readAnomalyModule, type AbortReason } from '../lua-common/source.js';
import {
  LUA_ERRMEM, LUA_MASKCOUNT, LUA_MULTRET, LUA_OK, LUA_TFUNCTION, LUA_TNIL, LUA_TNUMBER, LUA_TSTRING, LUA_TTABLE, Scratch, loadRawLua,
  type LuaState, type RawLua,
} from './raw.js';

/** Instructions between deadline checks (Lua 5.4 in WASM runs them ~10x faster than fengari). */
const HOOK_COUNT = 10_000;
const HEADERS = 1;
const COOKIES = 3;
/** Header lists the dispatcher names by number (bindings/lua/anomaly.lua, flat answers). */
const KNOWN_HEADERS = [null, TEXT_HEADERS, JSON_HEADERS] as const;

/**
 * Binds the app to the dispatcher and keeps the connection's fields in upvalues: per request the
 * host pushes only method, path, query and body (each push is a call into WASM, costly on a cold
 * cache), and calls `set` when the protocol, scheme, host or client differ from the last request.
 */
const ENTRY_LUA = `
local dispatch, app = ...
local protocol, scheme, host, remote = "", "", "", ""
local function call(method, path, raw_query, body)
  return dispatch(true, app, method, path, raw_query, body, protocol, scheme, host, remote)
end
local function set(p, s, h, r) protocol, scheme, host, remote = p, s, h, r end
return call, set
`;
/** Stack slots of the entry functions for the life of the state. */
const CALL = 1;
const SET = 2;

class WasmoonInstance implements AppInstance {
  readonly stats: RuntimeStats = newStats();
  broken = false;
  private L: LuaState = 0;
  private readonly s: Scratch;
  private readonly fns: number[] = [];
  private readonly hookPtr: number;
  private current: GuestRequest | null = null;
  private deadline = Infinity;
  private abort: AbortReason = null;
  private used = 0;
  private disposed = false;
  // The connection fields the entry's upvalues hold (see ENTRY_LUA); null until the first set.
  private protocol: string | null = null;
  private scheme: string | null = null;
  private host: string | null = null;
  private remote: string | null = null;

  constructor(private readonly m: RawLua, private readonly file: string, private readonly limits: RuntimeLimits) {
    this.s = new Scratch(m);
    const alloc = this.fn((_ud, ptr, osize, nsize) => this.alloc(ptr, osize, nsize), 'iiiii');
    this.hookPtr = this.fn((L) => this.onHook(L), 'vii');
    this.L = m._lua_newstate(alloc, 0);
    if (this.L === 0) throw new GuestError('memory', 'could not create a Lua state', { file });
  }

  private fn(f: (...args: number[]) => number | void, sig: string): number {
    const p = this.m.addFunction(f, sig);
    this.fns.push(p);
    return p;
  }

  /** lua_Alloc with a budget: refusing (returning NULL) makes Lua raise a memory error. */
  private alloc(ptr: number, osize: number, nsize: number): number {
    const m = this.m;
    if (nsize === 0) {
      if (ptr !== 0) {
        this.used -= osize;
        m._free(ptr);
      }
      return 0;
    }
    const delta = ptr !== 0 ? nsize - osize : nsize;
    if (delta > 0 && this.used + delta > this.limits.memoryBytes) {
      this.overLimit();
      return 0;
    }
    const p = m._realloc(ptr, nsize);
    if (p !== 0) this.used += delta;
    return p;
  }

  private overLimit(): void {
    if (this.L === 0 || this.deadline === Infinity) return;
    this.abort = 'memory';
    this.m._lua_sethook(this.L, this.hookPtr, LUA_MASKCOUNT, 1);
  }

  init(anomalySrc: Uint8Array, code: string): void {
    const { m, L } = this;
    m._luaL_openlibs(L);
    m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_COUNT);

    // anomaly.lua(host) -> M, dispatch: stack [M, dispatch]
    this.load(anomalySrc, '@anomaly.lua');
    this.pushHostTable();
    this.call(1, 2, 'load');

    // sandbox(M, memfail, maxbytes)
    this.load(new TextEncoder().encode(SANDBOX_LUA), '=sandbox');
    m._lua_pushvalue(L, 1);
    m._lua_pushcclosure(L, this.fn((L1) => this.fail(L1, 'memory'), 'ii'), 0);
    m._lua_pushnumber(L, this.limits.memoryBytes);
    this.call(3, 0, 'load');

    // [M, dispatch] -> [dispatch], then the app: [dispatch, app].
    m._lua_rotate(L, 1, -1);
    m._lua_settop(L, -2);
    this.load(new TextEncoder().encode(code), '@' + this.file);
    this.call(0, 1, 'load');
    const t = m._lua_type(L, -1);
    if (t !== LUA_TTABLE && t !== LUA_TFUNCTION) {
      throw new GuestError('load', `${this.file} must return a function or an App (got ${t === LUA_TNIL ? 'nil' : 'a value of type ' + t})`, { file: this.file });
    }
    // entry(dispatch, app) -> [call, set] for the life of the state.
    this.load(new TextEncoder().encode(ENTRY_LUA), '=entry');
    m._lua_rotate(L, 1, 1);
    this.call(2, 2, 'load');
  }

  private load(buf: Uint8Array, chunkname: string): void {
    const { m, L, s } = this;
    const p = s.reserve(buf.length);
    m.HEAPU8.set(buf, p);
    const name = s.cString(chunkname);
    const mode = s.cString('t');
    const status = m._luaL_loadbufferx(L, p, buf.length, name, mode);
    m._free(name);
    m._free(mode);
    if (status !== LUA_OK) throw guestErrorFromLua('load', this.popMessage(), this.file);
  }

  private call(nargs: number, nresults: number, kind: 'load' | 'exception', started = performance.now()): void {
    const { m, L } = this;
    this.abort = null;
    this.deadline = started + this.limits.deadlineMs;
    let status: number;
    try {
      status = m._lua_pcallk(L, nargs, nresults, 0, 0, 0);
    } catch (e) {
      // A trap inside the module (e.g. its own memory exhausted): this state cannot be trusted any more.
      this.broken = true;
      throw new GuestError(e instanceof RangeError ? 'memory' : 'exception', `lua: ${(e as Error).message}`, { file: this.file }, { cause: e });
    } finally {
      this.deadline = Infinity;
      // Back to the normal hook after an escalation (raise() runs it on every instruction).
      if (this.abort !== null) m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, HOOK_COUNT);
    }
    if (status === LUA_OK) return;
    const message = this.popMessage();
    const abort = this.abort as AbortReason;
    if (abort === 'deadline') {
      this.broken = true;
      throw new GuestError('deadline', `${this.file}: deadline of ${this.limits.deadlineMs} ms exceeded`, { file: this.file });
    }
    if (abort === 'memory' || status === LUA_ERRMEM) {
      this.broken = true;
      throw new GuestError('memory', `${this.file}: memory limit of ${this.limits.memoryBytes} bytes exceeded`, { file: this.file });
    }
    throw guestErrorFromLua(kind, message, this.file);
  }

  private popMessage(): string {
    const { m, L } = this;
    const msg = m._lua_type(L, -1) === LUA_TSTRING ? this.s.text(L, -1) : null;
    m._lua_settop(L, -2);
    return msg ?? '(error object is not a string)';
  }

  private onHook(L: LuaState): void {
    if (this.abort !== null) this.raise(L);
    if (performance.now() > this.deadline) {
      this.abort = 'deadline';
      this.raise(L);
    }
  }

  /** Escalates: the hook now runs on every instruction and raises each time, so pcall cannot swallow it. */
  private raise(L: LuaState): void {
    this.m._lua_sethook(L, this.hookPtr, LUA_MASKCOUNT, 1);
    this.s.pushString(L, this.abort === 'deadline' ? 'deadline exceeded' : 'not enough memory');
    this.m._lua_error(L);
  }

  private fail(L: LuaState, reason: AbortReason): number {
    this.abort = reason;
    this.raise(L);
    return 0;
  }

  // ---- host accessors --------------------------------------------------------------------------

  private pushHostTable(): void {
    const { m, L, s } = this;
    m._lua_createtable(L, 0, 5);
    const fields: Array<[string, (L1: LuaState) => number]> = [
      ['header', (L1) => this.hostFirst(L1, true)],
      ['query', (L1) => this.hostFirst(L1, false)],
      ['all', (L1) => this.hostAll(L1)],
      ['names', (L1) => this.hostNames(L1)],
      ['map', (L1) => this.hostMap(L1)],
    ];
    for (const [name, f] of fields) {
      m._lua_pushcclosure(L, this.fn(f, 'ii'), 0);
      const k = s.cString(name);
      m._lua_setfield(L, -2, k);
      m._free(k);
    }
  }

  private multi(L: LuaState): ReadonlyMap<string, readonly string[]> | null {
    const req = this.current;
    if (req === null) return null;
    return this.m._lua_tonumberx(L, 1, 0) === HEADERS ? req.headers : req.query;
  }
  /** Values of the name at arg 2 in the map of kind arg 1; header names are matched lower-cased. */
  private lookup(L: LuaState): readonly string[] | undefined {
    const req = this.current;
    if (req === null) return undefined;
    const name = this.s.text(L, 2) ?? '';
    return this.m._lua_tonumberx(L, 1, 0) === HEADERS ? req.headers.get(lowerName(name)) : req.query.get(name);
  }


  /** obj:get(name) for headers or query: the first value or nil. */
  private hostFirst(L: LuaState, headers: boolean): number {
    const req = this.current;
    const name = this.s.text(L, 2) ?? '';
    const values = req === null ? undefined : headers ? req.headers.get(lowerName(name)) : req.query.get(name);
    if (values === undefined || values.length === 0) this.m._lua_pushnil(L);
    else this.s.pushString(L, values[0]);
    return 1;
  }

  private hostAll(L: LuaState): number {
    return this.pushValues(L, this.lookup(L) ?? []);
  }

  private hostNames(L: LuaState): number {
    const m = this.multi(L);
    return this.pushValues(L, m === null ? [] : [...m.keys()]);
  }

  private hostMap(L: LuaState): number {
    const req = this.current;
    if (req === null) return 0;
    const entries: Iterable<[string, string]> = this.m._lua_tonumberx(L, 1, 0) === COOKIES ? req.cookies : Object.entries(req.params);
    const flat: string[] = [];
    for (const [k, v] of entries) flat.push(k, v);
    return this.pushValues(L, flat);
  }

  private pushValues(L: LuaState, values: readonly string[]): number {
    if (this.m._lua_checkstack(L, values.length) === 0) return 0;
    for (const v of values) this.s.pushString(L, v);
    return values.length;
  }

  // ---- the call --------------------------------------------------------------------------------

  async handle(req: GuestRequest): Promise<GuestResponse> {
    return this.handleNow(req);
  }

  handleNow(req: GuestRequest): GuestResponse {
    if (this.disposed) throw new GuestError('exception', 'instance disposed', { file: this.file });
    const started = performance.now();
    const { m, L, s } = this;
    this.stats.calls++;
    this.current = req;
    try {
      if (req.protocol !== this.protocol || req.scheme !== this.scheme || req.host !== this.host || req.remoteAddress !== this.remote) {
        this.setConnection(req, started);
      }
      m._lua_pushvalue(L, CALL);
      s.pushString(L, req.method);
      s.pushString(L, req.path);
      s.pushString(L, req.rawQuery);
      s.pushBytes(L, req.body);
      this.call(4, LUA_MULTRET, 'exception', started);
      return this.readResponse();
    } catch (e) {
      this.stats.errors++;
      if (e instanceof GuestError && e.kind === 'deadline') this.stats.deadlines++;
      throw e;
    } finally {
      this.current = null;
      if (!this.disposed) m._lua_settop(L, 2);
      this.stats.totalMs += performance.now() - started;
    }
  }

  /** Hands the entry this request's connection fields (kept until a request brings others). */
  private setConnection(req: GuestRequest, started: number): void {
    const { m, L, s } = this;
    this.protocol = null; // unknown until the call below succeeds
    m._lua_pushvalue(L, SET);
    s.pushString(L, req.protocol);
    s.pushString(L, req.scheme);
    s.pushString(L, req.host);
    s.pushString(L, req.remoteAddress);
    this.call(4, 0, 'exception', started);
    this.protocol = req.protocol;
    this.scheme = req.scheme;
    this.host = req.host;
    this.remote = req.remoteAddress;
  }

  /** Stack above [call, set]: status, body (string or nil), then header name, value, ... or one known list's number. */
  private readResponse(): GuestResponse {
    const { m, L, s } = this;
    const status = m._lua_tonumberx(L, 3, 0);
    const top = m._lua_gettop(L);
    let headers: Array<[string, string]>;
    if (top === 5 && m._lua_type(L, 5) === LUA_TNUMBER) {
      headers = KNOWN_HEADERS[m._lua_tonumberx(L, 5, 0)] ?? [];
    } else {
      headers = [];
      for (let i = 5; i < top; i += 2) headers.push([s.knownText(L, i) ?? '', s.knownText(L, i + 1) ?? '']);
    }
    let body: string | Uint8Array | null = null;
    if (m._lua_type(L, 4) === LUA_TSTRING) {
      const max = this.limits.maxResponseBytes;
      body = s.textOrBytes(L, 4, max, (size) => new GuestError('response', `${this.file}: response body of ${size} bytes exceeds ${max}`, { file: this.file }));
    }
    return { status: status === 0 ? 500 : status, headers, body };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.L !== 0) this.m._lua_close(this.L);
    this.L = 0;
    this.s.dispose();
    for (const p of this.fns) this.m.removeFunction(p);
    this.fns.length = 0;
  }
}

export function wasmoonRuntime(): Runtime {
  let anomaly: Promise<Uint8Array> | null = null;
  let module: Promise<RawLua> | null = null;
  return {
    id: 'wasmoon',
    extensions: [],
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      anomaly ??= readAnomalyModule();
      module ??= loadRawLua();
      const [src, m] = await Promise.all([anomaly, module]);
      const instance = new WasmoonInstance(m, source.file, limits);
      try {
        instance.init(src, source.code);
      } catch (e) {
        instance.dispose();
        if (e instanceof GuestError) throw new GuestError('load', e.message, { file: e.file, line: e.line }, { cause: e });
        throw e;
      }
      return instance;
    },
  };
}
