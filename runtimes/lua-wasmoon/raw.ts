/**
 * wasmoon 1.16 (Lua 5.4 compiled to WASM) through its raw Emscripten exports: wasmoon's own wrappers
 * go through ccall and convert every string to UTF-8 JS strings, which is slow and not binary safe.
 * Pointers and sizes are 32-bit; lua_Integer is 64-bit (BigInt), so the adapter avoids integer APIs.
 */
import { LuaWasm } from 'wasmoon';

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
export const LUA_TSTRING = 4;
export const LUA_TTABLE = 5;
export const LUA_TFUNCTION = 6;
export const LUA_MASKCOUNT = 8;

/** One WASM module (one linear memory) per runtime; each instance is its own lua_State inside it. */
export async function loadRawLua(): Promise<RawLua> {
  const wasm = await LuaWasm.initialize();
  return wasm.module as unknown as RawLua;
}

const encoder = new TextEncoder();
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
    this.m.HEAPU8.set(bytes, p);
    this.m._lua_pushlstring(L, p, bytes.length);
  }

  pushString(L: LuaState, s: string): void {
    const p = this.reserve(s.length * 3);
    const { written } = encoder.encodeInto(s, this.m.HEAPU8.subarray(p, p + s.length * 3));
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
