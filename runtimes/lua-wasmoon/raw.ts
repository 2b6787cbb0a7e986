/**
 * wasmoon 1.16 (Lua 5.4 compiled to WASM) through its raw Emscripten exports: wasmoon's own wrappers
 * go through ccall and convert every string to UTF-8 JS strings, which is slow and not binary safe.
 * Pointers and sizes are 32-bit; lua_Integer is 64-bit (BigInt), so the adapter avoids integer APIs.
 */
import { LuaWasm } from 'wasmoon';
import { isAscii, latin1Slice, writeAscii } from '../marshal-util.js';

type Ptr = number;
export type LuaState = Ptr;

export interface RawLua {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  _malloc(n: number): Ptr;
  _free(p: Ptr): void;
  _realloc(p: Ptr, n: number): Ptr;
  addFunction(fn: (...args: number[]) => number | void, sig: string): Ptr;
  removeFunction(p: Ptr): void;
  _lua_newstate(alloc: Ptr, ud: Ptr): LuaState;
  _lua_close(L: LuaState): void;
  _luaL_openlibs(L: LuaState): void;
  _luaL_loadbufferx(L: LuaState, buf: Ptr, size: number, name: Ptr, mode: Ptr): number;
  _lua_pcallk(L: LuaState, nargs: number, nresults: number, errfunc: number, ctx: number, k: Ptr): number;
  _lua_gettop(L: LuaState): number;
  _lua_settop(L: LuaState, idx: number): void;
  _lua_pushvalue(L: LuaState, idx: number): void;
  _lua_rotate(L: LuaState, idx: number, n: number): void;
  _lua_checkstack(L: LuaState, n: number): number;
  _lua_pushlstring(L: LuaState, s: Ptr, len: number): Ptr;
  _lua_pushnumber(L: LuaState, n: number): void;
  _lua_pushnil(L: LuaState): void;
  _lua_pushboolean(L: LuaState, b: number): void;
  _lua_pushcclosure(L: LuaState, fn: Ptr, n: number): void;
  _lua_createtable(L: LuaState, narr: number, nrec: number): void;
  _lua_setfield(L: LuaState, idx: number, k: Ptr): void;
  _lua_type(L: LuaState, idx: number): number;
  _lua_tonumberx(L: LuaState, idx: number, isnum: Ptr): number;
  _lua_tolstring(L: LuaState, idx: number, len: Ptr): Ptr;
  _lua_error(L: LuaState): number;
  _lua_sethook(L: LuaState, fn: Ptr, mask: number, count: number): void;
}

export const LUA_OK = 0;
export const LUA_ERRMEM = 4;
export const LUA_MULTRET = -1;
export const LUA_TNIL = 0;
export const LUA_TNUMBER = 3;
export const LUA_TSTRING = 4;
export const LUA_TTABLE = 5;
export const LUA_TFUNCTION = 6;
export const LUA_MASKCOUNT = 8;

// The C functions RawLua calls, by their name in the WASM module's exports.
const EXPORTS = [
  'malloc', 'free', 'realloc', 'lua_newstate', 'lua_close', 'luaL_openlibs', 'luaL_loadbufferx', 'lua_pcallk', 'lua_gettop',
  'lua_settop', 'lua_pushvalue', 'lua_rotate', 'lua_checkstack', 'lua_pushlstring', 'lua_pushnumber', 'lua_pushnil',
  'lua_pushboolean', 'lua_pushcclosure', 'lua_createtable', 'lua_setfield', 'lua_type', 'lua_tonumberx', 'lua_tolstring',
  'lua_error', 'lua_sethook',
] as const;

type WasmFunction = (...args: number[]) => number;

/**
 * One WASM module (one linear memory) per runtime; each instance is its own lua_State inside it.
 *
 * wasmoon ships an Emscripten build with assertions: every `module._lua_x` is a shim that builds an
 * error message string, looks the export up by name and calls it through `apply`: ≈0.1 µs per call
 * hot and several times that on a cold cache, and a request made ~25 calls. The instance's own exports are
 * plain WASM functions; they are taken from WebAssembly.instantiate while wasmoon loads, and a
 * build that loads differently falls back to the shims (same behaviour, slower).
 */
export async function loadRawLua(): Promise<RawLua> {
  const { module, exports } = await initializeCapturingExports();
  if (exports === null) return module as unknown as RawLua;
  const raw: Record<string, unknown> = {
    get HEAPU8() { return (module as RawLua).HEAPU8; },
    get HEAPU32() { return (module as RawLua).HEAPU32; },
    addFunction: (module as RawLua).addFunction,
    removeFunction: (module as RawLua).removeFunction,
  };
  for (const name of EXPORTS) raw['_' + name] = exports[name];
  return raw as unknown as RawLua;
}

let loading: Promise<unknown> = Promise.resolve();

// The slice of the WebAssembly global this file touches (the project's TypeScript libs do not declare it as a value).
interface WasmGlobal {
  instantiate: (...args: unknown[]) => Promise<unknown>;
  Instance: abstract new (...args: never[]) => { exports: Record<string, unknown> };
}
const wasmGlobal = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;

/** wasmoon's module, and its WASM instance's exports when they could be seen (null otherwise). */
function initializeCapturingExports(): Promise<{ module: unknown; exports: Record<string, WasmFunction> | null }> {
  // One at a time: the capture patches a global for the length of one initialisation.
  const next = loading.then(async () => {
    const original = wasmGlobal.instantiate;
    let exports: Record<string, WasmFunction> | null = null;
    const capturing = async function (this: unknown, ...args: unknown[]): Promise<unknown> {
      const result = await original.apply(this, args);
      const instance = result instanceof wasmGlobal.Instance ? result : (result as { instance?: { exports?: Record<string, unknown> } }).instance;
      const candidate = instance?.exports;
      if (candidate !== undefined && EXPORTS.every((name) => typeof candidate[name] === 'function')) exports = candidate as Record<string, WasmFunction>;
      return result;
    };
    wasmGlobal.instantiate = capturing;
    try {
      const wasm = await LuaWasm.initialize();
      return { module: wasm.module as unknown, exports };
    } finally {
      if (wasmGlobal.instantiate === capturing) wasmGlobal.instantiate = original;
    }
  });
  loading = next.catch(() => undefined);
  return next;
}

const encoder = new TextEncoder();
/** Strings up to this many UTF-16 units take pushString's copy loop when they are ASCII. */
const SHORT_STRING = 64;
/** Answer bodies up to this many bytes come back as JS strings when they are ASCII (textOrBytes). */
const SHORT_TEXT = 1024;
const decoder = new TextDecoder();

/** A reusable malloc'd buffer for moving bytes into the module (outside the Lua allocator's budget). */
export class Scratch {
  private ptr: Ptr = 0;
  private cap = 0;
  /** 4 bytes for size_t out-parameters. */
  readonly lenPtr: Ptr;

  constructor(private readonly m: RawLua) {
    this.lenPtr = m._malloc(8);
  }

  reserve(n: number): Ptr {
    if (n > this.cap) {
      if (this.ptr !== 0) this.m._free(this.ptr);
      this.cap = Math.max(n, this.cap * 2, 4096);
      this.ptr = this.m._malloc(this.cap);
      if (this.ptr === 0) throw new Error('wasm: out of memory for a scratch buffer');
    }
    return this.ptr;
  }

  pushBytes(L: LuaState, bytes: Uint8Array): void {
    const p = this.reserve(bytes.length);
    if (bytes.length > 0) this.m.HEAPU8.set(bytes, p);
    this.m._lua_pushlstring(L, p, bytes.length);
  }

  pushString(L: LuaState, s: string): void {
    const n = s.length;
    // Short ASCII strings (methods, paths, hosts) are copied by hand (marshal-util.ts).
    if (n <= SHORT_STRING) {
      const p = this.reserve(n);
      if (writeAscii(this.m.HEAPU8, p, s)) {
        this.m._lua_pushlstring(L, p, n);
        return;
      }
    }
    const p = this.reserve(n * 3);
    const { written } = encoder.encodeInto(s, this.m.HEAPU8.subarray(p, p + n * 3));
    this.m._lua_pushlstring(L, p, written);
  }

  /** A NUL-terminated copy, for C APIs that take names; the caller frees it. */
  cString(s: string): Ptr {
    const bytes = encoder.encode(s);
    const p = this.m._malloc(bytes.length + 1);
    this.m.HEAPU8.set(bytes, p);
    this.m.HEAPU8[p + bytes.length] = 0;
    return p;
  }

  /** The bytes of the string at idx, as a view into WASM memory (valid until the next Lua call). */
  view(L: LuaState, idx: number): Uint8Array | null {
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    if (p === 0) return null;
    return this.m.HEAPU8.subarray(p, p + this.m.HEAPU32[this.lenPtr >> 2]);
  }

  /**
   * The string at idx as the host keeps it: a JS string when it is short ASCII (node:http then sends
   * head and body in one write, and nothing is copied twice), otherwise a copy of its bytes (the
   * Lua string lives in WASM memory). null if the value is no string; over `max` bytes, throws
   * tooLarge(size) before copying anything.
   */
  textOrBytes(L: LuaState, idx: number, max: number, tooLarge: (size: number) => Error): string | Uint8Array | null {
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    if (p === 0) return null;
    const n = this.m.HEAPU32[this.lenPtr >> 2];
    if (n > max) throw tooLarge(n);
    const heap = this.m.HEAPU8;
    if (n <= SHORT_TEXT && isAscii(heap, p, p + n)) return latin1Slice(heap, p, p + n);
    return heap.slice(p, p + n);
  }

  text(L: LuaState, idx: number): string | null {
    const v = this.view(L, idx);
    return v === null ? null : decoder.decode(v);
  }

  /** text() for strings that repeat on every answer (header names, content types): one decode each, then a byte compare. */
  knownText(L: LuaState, idx: number): string | null {
    const v = this.view(L, idx);
    if (v === null) return null;
    const known = KNOWN_BY_LENGTH.get(v.length);
    if (known !== undefined) {
      for (const k of known) if (sameBytes(k.bytes, v)) return k.text;
    }
    return decoder.decode(v);
  }

  dispose(): void {
    if (this.ptr !== 0) this.m._free(this.ptr);
    this.m._free(this.lenPtr);
    this.ptr = 0;
    this.cap = 0;
  }
}

const KNOWN_TEXTS = ['content-type', 'text/plain; charset=utf-8', 'application/json', 'text/html; charset=utf-8', 'location', 'cache-control', 'set-cookie'];
const KNOWN_BY_LENGTH = new Map<number, Array<{ bytes: Uint8Array; text: string }>>();
for (const text of KNOWN_TEXTS) {
  const bytes = encoder.encode(text);
  const list = KNOWN_BY_LENGTH.get(bytes.length) ?? [];
  list.push({ bytes, text });
  KNOWN_BY_LENGTH.set(bytes.length, list);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
