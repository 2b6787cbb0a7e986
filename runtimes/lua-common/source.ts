/**
 * Host-side pieces shared by the Lua engines: the guest `anomaly` module text, the sandbox bootstrap,
 * error-position parsing and per-instance stats.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { GuestError, type GuestErrorKind, type RuntimeStats } from '../contract.js';

/** bindings/lua/anomaly.lua, found from both the source tree and dist/ (which mirrors it one level down). */
function anomalyPath(): string {
  for (const rel of ['../../bindings/lua/anomaly.lua', '../../../bindings/lua/anomaly.lua']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('bindings/lua/anomaly.lua not found');
}

/** Reads the guest module once per runtime (the promise is kept by the caller, not in a module global). */
export function readAnomalyModule(): Promise<Uint8Array> {
  return readFile(anomalyPath());
}

/**
 * Run once per state after the standard libraries are open, with (anomaly module, memfail, maxStringBytes).
 * Leaves os.time/clock/date, removes file and process access, bytecode and debug; `require` only knows "anomaly".
 */
export const SANDBOX_LUA = `
local M, memfail, maxbytes = ...
local os_time, os_clock, os_date = os.time, os.clock, os.date
os = { time = os_time, clock = os_clock, date = os_date }
io, debug, package, dofile, loadfile, loadstring, print = nil, nil, nil, nil, nil, nil, function() end
local lload = load
load = function(chunk, name, _, env) return lload(chunk, name, "t", env) end
string.dump = nil
local error, tostring = error, tostring
require = function(name)
  if name == "anomaly" then return M end
  error("module '" .. tostring(name) .. "' not found (only \\"anomaly\\" can be required)", 2)
end
local rep = string.rep
string.rep = function(s, n, sep)
  if type(n) == "number" and n > 0 and (#tostring(s) + (sep and #tostring(sep) or 0)) * n > maxbytes then memfail() end
  return rep(s, n, sep)
end
`;

/** Splits "file:line: message" as Lua formats positions (chunk names are "@file"). */
export function luaErrorWhere(message: string, fallbackFile: string): { file: string; line: number | null; message: string } {
  const m = /^(.*?):(\d+): ([\s\S]*)$/.exec(message);
  if (m !== null && m[1] !== '') return { file: m[1], line: Number(m[2]), message };
  return { file: fallbackFile, line: null, message };
}

export function guestErrorFromLua(kind: GuestErrorKind, message: string, file: string): GuestError {
  const where = luaErrorWhere(message, file);
  return new GuestError(kind, where.message, { file: where.file, line: where.line });
}

export function newStats(): RuntimeStats {
  return { calls: 0, errors: 0, deadlines: 0, totalMs: 0 };
}

/** Why a guest run was stopped by the host (set by hooks, checked after the call). */
/** 'native': a JS exception escaped a host function or the VM (the state may be inconsistent). */
export type AbortReason = 'deadline' | 'memory' | 'native' | null;

/** Instructions between hook calls while the deadline has not passed. */
export const HOOK_COUNT = 1000;

/** Names are looked up as given in the query and lower-cased for headers (cheap when already lower case). */
export function lowerName(name: string): string {
  return name.toLowerCase();
}

const utf8 = new TextEncoder();

/**
 * UTF-8 bytes of short request strings. TextEncoder.encode costs ~0.3 µs per call on Node 20, more than
 * the copy itself for method/path/host; ASCII strings take a plain loop and the last value of each
 * field is reused (the same host and method repeat request after request; the bytes are never mutated).
 */
export class StringBytes {
  private last: string | null = null;
  private lastBytes: Uint8Array = new Uint8Array(0);

  get(s: string): Uint8Array {
    if (s === this.last) return this.lastBytes;
    const bytes = encodeShort(s);
    this.last = s;
    this.lastBytes = bytes;
    return bytes;
  }
}

export function encodeShort(s: string): Uint8Array {
  const n = s.length;
  if (n > 64) return utf8.encode(s);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return utf8.encode(s);
    out[i] = c;
  }
  return out;
}
