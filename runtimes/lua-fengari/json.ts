/**
 * anomaly.encode for fengari as a host function: the Lua encoder costs ~60 µs for a small object in
 * fengari (every call and pairs step allocates a stack frame); walking the table from JS costs a few.
 * Same rules as the Lua encoder in bindings/lua/anomaly.lua: anomaly.null -> null, tables marked
 * anomaly.array or with exactly 1..n keys -> arrays, other tables -> objects with string or number keys.
 */
import { lua, type LuaState } from './api.js';

const K_NAME = new TextEncoder().encode('__name');
const MAX_DEPTH = 100;

class JsonError extends Error {}

function text(L: LuaState, idx: number): string {
  const u = lua.lua_tolstring(L, idx);
  return u === null ? '' : Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8');
}

/** __name of the value's metatable, or null. */
function metaName(L: LuaState, idx: number): string | null {
  if (!lua.lua_getmetatable(L, idx)) return null;
  lua.lua_getfield(L, -1, K_NAME);
  const name = lua.lua_type(L, -1) === lua.LUA_TSTRING ? text(L, -1) : null;
  lua.lua_settop(L, -3);
  return name;
}

function encodeAt(L: LuaState, idx: number, depth: number, out: string[]): void {
  idx = lua.lua_absindex(L, idx);
  const t = lua.lua_type(L, idx);
  if (t === lua.LUA_TSTRING) {
    out.push(JSON.stringify(text(L, idx)));
  } else if (t === lua.LUA_TNUMBER) {
    const n = lua.lua_tonumberx(L, idx) as number;
    if (!Number.isFinite(n)) throw new JsonError(`json: cannot encode ${n}`);
    out.push(Number.isInteger(n) && Math.abs(n) < 2 ** 53 ? n.toFixed(0) : JSON.stringify(n));
  } else if (t === lua.LUA_TBOOLEAN) {
    out.push(lua.lua_toboolean(L, idx) ? 'true' : 'false');
  } else if (t === lua.LUA_TNIL) {
    out.push('null');
  } else if (t === lua.LUA_TTABLE) {
    if (depth > MAX_DEPTH) throw new JsonError('json: nesting too deep');
    const name = metaName(L, idx);
    if (name === 'anomaly.null') {
      out.push('null');
      return;
    }
    const len = lua.lua_rawlen(L, idx);
    let array = name === 'anomaly.array';
    if (!array && len > 0) {
      let count = 0;
      lua.lua_pushnil(L);
      while (lua.lua_next(L, idx) !== 0) {
        count++;
        lua.lua_settop(L, -2);
      }
      array = count === len;
    }
    if (array) {
      out.push('[');
      for (let i = 1; i <= len; i++) {
        if (i > 1) out.push(',');
        lua.lua_rawgeti(L, idx, i);
        encodeAt(L, -1, depth + 1, out);
        lua.lua_settop(L, -2);
      }
      out.push(']');
      return;
    }
    out.push('{');
    let first = true;
    lua.lua_pushnil(L);
    while (lua.lua_next(L, idx) !== 0) {
      const kt = lua.lua_type(L, -2);
      if (kt !== lua.LUA_TSTRING && kt !== lua.LUA_TNUMBER) throw new JsonError('json: object keys must be strings');
      if (!first) out.push(',');
      first = false;
      lua.lua_pushvalue(L, -2); // a copy: converting the key itself would break lua_next
      out.push(JSON.stringify(text(L, -1)), ':');
      lua.lua_settop(L, -2);
      encodeAt(L, -1, depth + 1, out);
      lua.lua_settop(L, -2);
    }
    out.push('}');
  } else {
    throw new JsonError(`json: cannot encode a ${Buffer.from(lua.lua_typename(L, t)).toString()}`);
  }
}

/** The host function: encode(value) -> JSON text (a Lua string), or a Lua error. */
export function hostEncode(L: LuaState, push: (L: LuaState, s: string) => void): number {
  const out: string[] = [];
  try {
    encodeAt(L, 1, 0, out);
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    lua.lua_settop(L, 1);
    lua.lua_pushstring(L, e.message);
    return lua.lua_error(L);
  }
  push(L, out.join(''));
  return 1;
}
