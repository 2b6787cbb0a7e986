/**
 * The parts of fengari 0.1.5 the adapter uses, typed. fengari ships no types; its internal
 * lstring/lobject modules give a zero-copy string push (a Lua string *is* a Uint8Array there).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A fengari lua_State (opaque to us). */
export type LuaState = object & { readonly __luaState?: never };
type JsFn = (L: LuaState) => number;
type Hook = (L: LuaState, ar: unknown) => void;

export interface FengariLua {
  LUA_OK: number; LUA_ERRSYNTAX: number; LUA_ERRMEM: number; LUA_REGISTRYINDEX: number; LUA_MASKCOUNT: number;
  LUA_TSTRING: number; LUA_TNIL: number; LUA_TTABLE: number; LUA_TNUMBER: number; LUA_TBOOLEAN: number;
  LUA_MULTRET: number;
  lua_gettop(L: LuaState): number;
  lua_checkstack(L: LuaState, n: number): boolean;
  lua_settop(L: LuaState, idx: number): void;
  lua_pushvalue(L: LuaState, idx: number): void;
  lua_pushinteger(L: LuaState, n: number): void;
  lua_pushnil(L: LuaState): void;
  lua_pushboolean(L: LuaState, b: boolean): void;
  lua_getmetatable(L: LuaState, idx: number): boolean;
  lua_isinteger(L: LuaState, idx: number): boolean;
  lua_toboolean(L: LuaState, idx: number): boolean;
  lua_absindex(L: LuaState, idx: number): number;
  lua_getfield(L: LuaState, idx: number, k: Uint8Array): number;
  lua_next(L: LuaState, idx: number): number;
  lua_tonumberx(L: LuaState, idx: number): number | false;
  lua_typename(L: LuaState, t: number): Uint8Array;
  lua_pushjsfunction(L: LuaState, f: JsFn): void;
  lua_pushstring(L: LuaState, s: Uint8Array | string): void;
  lua_createtable(L: LuaState, narr: number, nrec: number): void;
  lua_setfield(L: LuaState, idx: number, k: Uint8Array | string): void;
  lua_rawseti(L: LuaState, idx: number, n: number): void;
  lua_rawgeti(L: LuaState, idx: number, n: number): number;
  lua_rawlen(L: LuaState, idx: number): number;
  lua_type(L: LuaState, idx: number): number;
  lua_tointegerx(L: LuaState, idx: number): number | false;
  lua_tolstring(L: LuaState, idx: number): Uint8Array | null;
  lua_tojsstring(L: LuaState, idx: number): string | null;
  lua_pcall(L: LuaState, nargs: number, nresults: number, errfunc: number): number;
  lua_error(L: LuaState): never;
  lua_sethook(L: LuaState, f: Hook | null, mask: number, count: number): void;
  lua_atnativeerror(L: LuaState, f: JsFn): void;
  lua_touserdata(L: LuaState, idx: number): unknown;
  lua_close(L: LuaState): void;
}

export interface FengariLauxlib {
  luaL_newstate(): LuaState;
  luaL_loadbufferx(L: LuaState, buff: Uint8Array, size: number, name: Uint8Array, mode: Uint8Array | null): number;
  luaL_ref(L: LuaState, t: number): number;
}

interface Fengari {
  lua: FengariLua;
  lauxlib: FengariLauxlib;
  lualib: { luaL_openlibs(L: LuaState): void };
  to_luastring(s: string): Uint8Array;
  to_jsstring(u: Uint8Array): string;
}

const fengari = require('fengari') as Fengari;
const lstring = require('fengari/src/lstring.js') as { luaS_bless(L: LuaState, s: Uint8Array): unknown };
interface TString { realstring: Uint8Array }
const lobject = require('fengari/src/lobject.js') as {
  pushsvalue2s(L: LuaState, ts: unknown): void;
  setsvalue2s(L: LuaState, i: number, ts: TString): void;
  __anomalyGuarded?: boolean;
};

export const lua = fengari.lua;
export const lauxlib = fengari.lauxlib;
export const lualib = fengari.lualib;
export const toLuaString = fengari.to_luastring;

/** Pushes bytes as a Lua string without copying: the Lua string shares the Uint8Array (Lua strings are immutable). */
export function pushBytes(L: LuaState, bytes: Uint8Array): void {
  lobject.pushsvalue2s(L, lstring.luaS_bless(L, bytes));
}

/** Per-state hook for strings built by the VM (concatenation), kept on the state's global record. */
export interface StringGuard {
  maxBytes: number;
  onTooLarge(L: LuaState): void;
}
type GlobalOf = { l_G: { anomalyStringGuard?: StringGuard } };

/**
 * fengari allocates concatenation results without any hook, so `s = s .. s` reaches gigabytes between
 * two count-hook calls. The VM stores every such result through lobject.setsvalue2s (called through the
 * module object), so one wrapper there sees each new string before the guest can use it. The wrapper
 * is installed once per process and does nothing for states without a guard.
 */
export function setStringGuard(L: LuaState, guard: StringGuard): void {
  if (lobject.__anomalyGuarded !== true) {
    const original = lobject.setsvalue2s;
    lobject.setsvalue2s = function (L1: LuaState, i: number, ts: TString): void {
      const g = (L1 as unknown as GlobalOf).l_G.anomalyStringGuard;
      if (g !== undefined && ts.realstring.length > g.maxBytes) g.onTooLarge(L1);
      original(L1, i, ts);
    };
    lobject.__anomalyGuarded = true;
  }
  (L as unknown as GlobalOf).l_G.anomalyStringGuard = guard;
}

type StackOf = { stack: unknown[] };

/**
 * fengari grows a state's stack with `stack.length = n`, which leaves V8 a sparse array in dictionary
 * mode: every register access becomes a hash lookup (measured: ~2.5x slower calls). Copying it into
 * a packed array restores fast elements; callers do it after the stack size changed, between calls.
 */
export function stackLength(L: LuaState): number {
  return (L as unknown as StackOf).stack.length;
}

export function packStack(L: LuaState): void {
  const old = (L as unknown as StackOf).stack;
  const packed: unknown[] = [];
  for (let i = 0; i < old.length; i++) packed.push(old[i]);
  (L as unknown as StackOf).stack = packed;
}
