/**
 * Lua apps on fengari (Lua 5.3 in pure JS): the default Lua engine (`.lua`).
 *
 * One lua_State per AppInstance. Per call the host pushes 8 strings (the body zero-copy) to the
 * dispatch function of bindings/lua/anomaly.lua; headers, query, cookies and params are read lazily
 * through host functions, so an app that never looks at them pays nothing for them.
 * Limits: a count hook checks the deadline and an approximate memory guard (V8 heap growth since the
 * hook first ran in this call, plus string.rep sizes), and escalates (hook every instruction, raise
 * every time) so a guest pcall cannot swallow the stop. fengari has no allocator hook, so memory is
 * an estimate: see bindings/lua/README.md.
 */
import { getHeapStatistics } from 'node:v8';
import { performance } from 'node:perf_hooks';
import {
  GuestError, type AppInstance, type AppSource, type GuestRequest, type GuestResponse, type Runtime, type RuntimeLimits,
  type RuntimeStats, TEXT_HEADERS,
} from '../contract.js';
import { HOOK_COUNT, SANDBOX_LUA, StringBytes, encodeShort, guestErrorFromLua, lowerName, newStats, readAnomalyModule, type AbortReason } from '../lua-common/source.js';
import { hostEncode } from './json.js';
import { lauxlib, lua, lualib, packStack, pushBytes, setStringGuard, stackLength, toLuaString, type LuaState } from './api.js';

/** Kinds the accessors take (anomaly.lua): 1 headers, 2 query, 3 cookies, 4 params. */
const HEADERS = 1;
const COOKIES = 3;

const EMPTY = new Uint8Array(0);
const K_STATUS = toLuaString('status');
const K_HEADERS = toLuaString('headers');
const K_BODY = toLuaString('body');
const fromLuaString = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8');
const utf8 = new TextEncoder();

function heapBytes(): number {
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

class FengariInstance implements AppInstance {
  readonly stats: RuntimeStats = newStats();
  broken = false;
  private readonly L: LuaState;
  private current: GuestRequest | null = null;
  private deadline = Infinity;
  private abort: AbortReason = null;
  private heapBase = -1;
  private nativeError: unknown = null;
  private dispatchRef = 0;
  private appRef = 0;
  private disposed = false;
  private packedLength = -1;
  private readonly hook = (L: LuaState): void => this.onHook(L);
  /** Per-field byte caches for the strings pushed on every call. */
  private readonly fields = Array.from({ length: 7 }, () => new StringBytes());

  constructor(private readonly file: string, private readonly limits: RuntimeLimits) {
    this.L = lauxlib.luaL_newstate();
  }

  /** Opens the libraries, loads anomaly.lua and the sandbox, then runs the app file. */
  init(anomalySrc: Uint8Array, code: string): void {
    const L = this.L;
    lualib.luaL_openlibs(L);
    lua.lua_atnativeerror(L, (L1) => this.onNativeError(L1));
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, HOOK_COUNT);
    setStringGuard(L, { maxBytes: this.limits.memoryBytes, onTooLarge: (L1) => this.fail(L1, 'memory') });

    // anomaly.lua(host) -> M, dispatch
    this.load(anomalySrc, '@anomaly.lua');
    this.pushHostTable();
    this.call(1, 2, 'load');
    this.dispatchRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX); // pops dispatch, leaves M

    // sandbox(M, memfail, maxbytes)
    this.load(toLuaString(SANDBOX_LUA), '=sandbox');
    lua.lua_pushvalue(L, -2);
    lua.lua_pushjsfunction(L, (L1) => this.fail(L1, 'memory'));
    lua.lua_pushinteger(L, this.limits.memoryBytes);
    this.call(3, 0, 'load');
    lua.lua_settop(L, 0);

    const bytes = utf8.encode(code);
    this.load(bytes, '@' + this.file);
    this.call(0, 1, 'load');
    const t = lua.lua_type(L, -1);
    if (t !== lua.LUA_TTABLE && t !== 6 /* function */) {
      throw new GuestError('load', `${this.file} must return a function or an App (got ${t === lua.LUA_TNIL ? 'nil' : 'a value of type ' + t})`, { file: this.file });
    }
    this.appRef = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
    this.repack();
  }

  /** Keeps the stack array in fast (packed) elements after fengari resized it; see packStack. */
  private repack(): void {
    if (stackLength(this.L) === this.packedLength) return;
    packStack(this.L);
    this.packedLength = stackLength(this.L);
  }

  private load(buf: Uint8Array, chunkname: string): void {
    const status = lauxlib.luaL_loadbufferx(this.L, buf, buf.length, toLuaString(chunkname), toLuaString('t'));
    if (status !== lua.LUA_OK) throw guestErrorFromLua('load', this.popMessage(), this.file);
  }

  /** Protected call of the function under nargs arguments, with the deadline armed; throws GuestError. */
  private call(nargs: number, nresults: number, kind: 'load' | 'exception'): void {
    this.abort = null;
    this.nativeError = null;
    this.heapBase = -1;
    this.deadline = performance.now() + this.limits.deadlineMs;
    let status: number;
    try {
      status = lua.lua_pcall(this.L, nargs, nresults, 0);
    } catch (e) {
      // A JS error escaped the VM (e.g. an allocation failure outside any pcall): the state is suspect.
      this.broken = true;
      lua.lua_settop(this.L, 0);
      throw new GuestError(e instanceof RangeError ? 'memory' : 'exception', `lua: ${(e as Error).message}`, { file: this.file }, { cause: e });
    } finally {
      this.deadline = Infinity;
      lua.lua_sethook(this.L, this.hook, lua.LUA_MASKCOUNT, HOOK_COUNT);
    }
    if (status === lua.LUA_OK) return;
    const message = this.popMessage();
    if (this.abort !== null || this.nativeError !== null) {
      this.broken = true;
      const reason = (this.abort as AbortReason) ?? 'native';
      if (reason === 'deadline') throw new GuestError('deadline', `${this.file}: deadline of ${this.limits.deadlineMs} ms exceeded`, { file: this.file });
      if (reason === 'native') {
        const cause = this.nativeError;
        throw new GuestError('exception', `${this.file}: host error: ${cause instanceof Error ? cause.message : String(cause)}`, { file: this.file }, { cause });
      }
      throw new GuestError('memory', `${this.file}: memory limit of ${this.limits.memoryBytes} bytes exceeded`, { file: this.file });
    }
    if (status === lua.LUA_ERRMEM) {
      this.broken = true;
      throw new GuestError('memory', message, { file: this.file });
    }
    throw guestErrorFromLua(kind, message, this.file);
  }

  private popMessage(): string {
    const L = this.L;
    const msg = lua.lua_type(L, -1) === lua.LUA_TSTRING ? luaText(L, -1) : null;
    lua.lua_settop(L, -2);
    return msg ?? '(error object is not a string)';
  }

  private onHook(L: LuaState): void {
    if (this.abort !== null) this.raise(L);
    if (performance.now() > this.deadline) {
      this.abort = 'deadline';
      this.raise(L);
    }
    if (this.deadline !== Infinity) {
      const heap = heapBytes();
      if (this.heapBase < 0) this.heapBase = heap;
      else if (heap - this.heapBase > this.limits.memoryBytes) {
        this.abort = 'memory';
        this.raise(L);
      }
    }
  }

  /** Escalates: from now on the hook runs on every instruction and raises each time. */
  private raise(L: LuaState): never {
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, 1);
    lua.lua_pushstring(L, this.abort === 'deadline' ? 'deadline exceeded' : 'not enough memory');
    return lua.lua_error(L);
  }

  private fail(L: LuaState, reason: AbortReason): number {
    this.abort = reason;
    return this.raise(L);
  }

  /** A JS exception inside the VM (a guest pcall would otherwise see it as a plain error): stop the guest. */
  private onNativeError(L: LuaState): number {
    this.nativeError = lua.lua_touserdata(L, 1);
    if (this.abort === null) this.abort = isAllocationFailure(this.nativeError) ? 'memory' : 'native';
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, 1);
    lua.lua_pushstring(L, 'host error');
    return 1;
  }

  // ---- host accessors called from anomaly.lua --------------------------------------------------

  private pushHostTable(): void {
    const L = this.L;
    lua.lua_createtable(L, 0, 5);
    lua.lua_pushjsfunction(L, (L1) => this.hostFirst(L1, true));
    lua.lua_setfield(L, -2, 'header');
    lua.lua_pushjsfunction(L, (L1) => this.hostFirst(L1, false));
    lua.lua_setfield(L, -2, 'query');
    lua.lua_pushjsfunction(L, (L1) => hostEncode(L1, (L2, text) => pushBytes(L2, utf8.encode(text))));
    lua.lua_setfield(L, -2, 'encode');
    lua.lua_pushjsfunction(L, (L1) => this.hostAll(L1));
    lua.lua_setfield(L, -2, 'all');
    lua.lua_pushjsfunction(L, (L1) => this.hostNames(L1));
    lua.lua_setfield(L, -2, 'names');
    lua.lua_pushjsfunction(L, (L1) => this.hostMap(L1));
    lua.lua_setfield(L, -2, 'map');
  }

  private multi(L: LuaState): ReadonlyMap<string, readonly string[]> | null {
    const req = this.current;
    if (req === null) return null;
    return lua.lua_tointegerx(L, 1) === HEADERS ? req.headers : req.query;
  }
  /** Values of the name at arg 2 in the map of kind arg 1; header names are matched lower-cased. */
  private lookup(L: LuaState): readonly string[] | undefined {
    const req = this.current;
    if (req === null) return undefined;
    const name = luaText(L, 2);
    return lua.lua_tointegerx(L, 1) === HEADERS ? req.headers.get(lowerName(name)) : req.query.get(name);
  }


  /** obj:get(name) for headers or query: the first value or nil. */
  private hostFirst(L: LuaState, headers: boolean): number {
    const req = this.current;
    const name = luaText(L, 2);
    const values = req === null ? undefined : headers ? req.headers.get(lowerName(name)) : req.query.get(name);
    if (values === undefined || values.length === 0) lua.lua_pushnil(L);
    else pushBytes(L, encodeShort(values[0]));
    return 1;
  }

  private hostAll(L: LuaState): number {
    const values = this.lookup(L) ?? [];
    return pushValues(L, values);
  }

  private hostNames(L: LuaState): number {
    const m = this.multi(L);
    return pushValues(L, m === null ? [] : [...m.keys()]);
  }

  private hostMap(L: LuaState): number {
    const req = this.current;
    if (req === null) return 0;
    const entries: Iterable<[string, string]> = lua.lua_tointegerx(L, 1) === COOKIES ? req.cookies : Object.entries(req.params);
    const flat: string[] = [];
    for (const [k, v] of entries) flat.push(k, v);
    return pushValues(L, flat);
  }

  // ---- the call --------------------------------------------------------------------------------

  async handle(req: GuestRequest): Promise<GuestResponse> {
    return this.handleNow(req);
  }

  handleNow(req: GuestRequest): GuestResponse {
    if (this.disposed) throw new GuestError('exception', 'instance disposed', { file: this.file });
    const started = performance.now();
    const L = this.L;
    this.stats.calls++;
    this.current = req;
    try {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.dispatchRef);
      lua.lua_pushboolean(L, false);
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, this.appRef);
      const f = this.fields;
      pushBytes(L, f[0].get(req.method));
      pushBytes(L, f[1].get(req.path));
      pushBytes(L, f[2].get(req.rawQuery));
      pushBytes(L, req.body.length === 0 ? EMPTY : req.body);
      pushBytes(L, f[3].get(req.protocol));
      pushBytes(L, f[4].get(req.scheme));
      pushBytes(L, f[5].get(req.host));
      pushBytes(L, f[6].get(req.remoteAddress));
      this.call(10, 1, 'exception');
      return this.readResponse();
    } catch (e) {
      this.stats.errors++;
      if (e instanceof GuestError && e.kind === 'deadline') this.stats.deadlines++;
      throw e;
    } finally {
      this.current = null;
      lua.lua_settop(L, 0);
      if (!this.disposed) this.repack();
      this.stats.totalMs += performance.now() - started;
    }
  }

  /** Stack: [answer]. Read here rather than flattened in Lua: each Lua call or pairs step costs more in fengari. */
  private readResponse(): GuestResponse {
    const L = this.L;
    const t = lua.lua_type(L, 1);
    if (t === lua.LUA_TSTRING) return { status: 200, headers: TEXT_HEADERS, body: this.checkSize(lua.lua_tolstring(L, 1)) };
    if (t !== lua.LUA_TTABLE) throw this.badAnswer(`handler returned ${this.typeName(1)} (expected a table or a string)`);
    lua.lua_getfield(L, 1, K_STATUS); // 2
    lua.lua_getfield(L, 1, K_HEADERS); // 3
    lua.lua_getfield(L, 1, K_BODY); // 4
    let status = 200;
    if (lua.lua_type(L, 2) !== lua.LUA_TNIL) {
      const n = lua.lua_type(L, 2) === lua.LUA_TNUMBER ? lua.lua_tonumberx(L, 2) : false;
      if (n === false || !Number.isInteger(n) || n < 100 || n > 999) throw this.badAnswer(`invalid status ${luaText(L, 2) || this.typeName(2)}`);
      status = n;
    }
    const headers: Array<[string, string]> = [];
    const ht = lua.lua_type(L, 3);
    if (ht === lua.LUA_TTABLE) this.readHeaders(headers);
    else if (ht !== lua.LUA_TNIL) throw this.badAnswer('headers must be a table');
    let body: Uint8Array | null = null;
    const bt = lua.lua_type(L, 4);
    if (bt === lua.LUA_TSTRING || bt === lua.LUA_TNUMBER) body = this.checkSize(lua.lua_tolstring(L, 4));
    else if (bt !== lua.LUA_TNIL) throw this.badAnswer(`body must be a string (got ${this.typeName(4)})`);
    return { status, headers, body };
  }

  /** Headers at stack slot 3: { name = value | {values...} } or { {name, value}, ... }. */
  private readHeaders(out: Array<[string, string]>): void {
    const L = this.L;
    lua.lua_pushnil(L);
    while (lua.lua_next(L, 3) !== 0) {
      // key -2, value -1 (never convert the key in place: lua_next needs it intact)
      const vt = lua.lua_type(L, -1);
      if (lua.lua_type(L, -2) === lua.LUA_TSTRING) {
        const name = luaText(L, -2);
        if (vt === lua.LUA_TTABLE) {
          const n = lua.lua_rawlen(L, -1);
          for (let i = 1; i <= n; i++) {
            lua.lua_rawgeti(L, -1, i);
            out.push([name, this.headerValue(-1)]);
            lua.lua_settop(L, -2);
          }
        } else {
          out.push([name, this.headerValue(-1)]);
        }
      } else if (vt === lua.LUA_TTABLE) {
        lua.lua_rawgeti(L, -1, 1);
        lua.lua_rawgeti(L, -2, 2);
        out.push([this.headerValue(-2), this.headerValue(-1)]);
        lua.lua_settop(L, -3);
      } else {
        throw this.badAnswer('header names must be strings');
      }
      lua.lua_settop(L, -2);
    }
  }

  private headerValue(idx: number): string {
    const t = lua.lua_type(this.L, idx);
    if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) throw this.badAnswer(`header values must be strings (got ${this.typeName(idx)})`);
    return luaText(this.L, idx);
  }

  private typeName(idx: number): string {
    return fromLuaString(lua.lua_typename(this.L, lua.lua_type(this.L, idx)));
  }

  private badAnswer(message: string): GuestError {
    return new GuestError('exception', `${this.file}: ${message}`, { file: this.file });
  }

  private checkSize(body: Uint8Array | null): Uint8Array | null {
    if (body !== null && body.length > this.limits.maxResponseBytes) {
      throw new GuestError('response', `${this.file}: response body of ${body.length} bytes exceeds ${this.limits.maxResponseBytes}`, { file: this.file });
    }
    return body;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    lua.lua_close(this.L);
  }
}

/** Pushes the strings as multiple results (anomaly.lua packs them into tables). */
/**
 * Lua string (or number) at idx as JS text. Not lua_tojsstring: it throws on invalid UTF-8, which
 * guest bytes may be; invalid sequences become U+FFFD here. Numbers are converted in place (as Lua does).
 */
function luaText(L: LuaState, idx: number): string {
  const u = lua.lua_tolstring(L, idx);
  return u === null ? '' : Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8');
}

function isAllocationFailure(e: unknown): boolean {
  return e instanceof RangeError && /alloc|invalid (typed )?array length|out of memory|string length/i.test(e.message);
}

function pushValues(L: LuaState, values: readonly string[]): number {
  if (!lua.lua_checkstack(L, values.length)) throw new Error('lua stack exhausted');
  for (let i = 0; i < values.length; i++) pushBytes(L, encodeShort(values[i]));
  return values.length;
}

export function fengariRuntime(): Runtime {
  let anomaly: Promise<Uint8Array> | null = null;
  return {
    id: 'fengari',
    extensions: ['.lua'],
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      anomaly ??= readAnomalyModule();
      const src = await anomaly;
      const instance = new FengariInstance(source.file, limits);
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
