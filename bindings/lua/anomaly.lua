-- anomaly: the guest library for Lua apps (fengari / Lua 5.3 and wasmoon / Lua 5.4).
-- The host loads this chunk once per Lua state and calls it with its accessor functions; it returns
-- the public module (what `require("anomaly")` gives) and the dispatch function the host calls per request.
-- Host accessors (only valid during a call): header(_, name) / query(_, name) -> first value or nil; all(kind, name) -> values...;
-- names(kind) -> names...; map(kind) -> k1, v1, ...  Kinds: 1 headers, 2 query, 3 cookies, 4 params.
local host = ...
local hall, hnames, hmap = host.all, host.names, host.map

local type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable, rawget, rawset, error, select =
  type, pairs, ipairs, next, tostring, tonumber, setmetatable, getmetatable, rawget, rawset, error, select
local sfind, ssub, sbyte, schar, sformat, sgsub, concat =
  string.find, string.sub, string.byte, string.char, string.format, string.gsub, table.concat
local mtype, huge = math.type, math.huge

local M = {}

---------------------------------------------------------------------------------------------------
-- JSON
---------------------------------------------------------------------------------------------------

-- JSON null (a unique value: Lua nil cannot live in a table).
M.null = setmetatable({}, { __tostring = function() return "null" end, __name = "anomaly.null" })
local null = M.null

-- Tables carrying this metatable encode as arrays even when empty; decoded arrays get it too.
local array_mt = { __name = "anomaly.array" }
function M.array(t) return setmetatable(t or {}, array_mt) end

local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function escape_char(c) return escapes[c] or sformat("\\u%04x", sbyte(c)) end

local function encode_string(s, out, n)
  out[n + 1] = '"'
  -- find first: gsub always builds a new string, and most strings need no escaping
  out[n + 2] = sfind(s, '[%c"\\]') and (sgsub(s, '[%c"\\]', escape_char)) or s
  out[n + 3] = '"'
  return n + 3
end

local encode_value

local function is_array(t)
  if getmetatable(t) == array_mt then return true, #t end
  local len = #t
  if len == 0 then return false, 0 end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == len, len
end

encode_value = function(v, out, n, depth)
  local tv = type(v)
  if tv == "string" then
    return encode_string(v, out, n)
  elseif tv == "number" then
    if mtype(v) == "integer" then
      out[n + 1] = sformat("%d", v)
    elseif v ~= v or v == huge or v == -huge then
      error("json: cannot encode " .. tostring(v), 0)
    elseif v == math.floor(v) and v > -2^53 and v < 2^53 then
      out[n + 1] = sformat("%d", v)
    else
      out[n + 1] = sformat("%.17g", v)
    end
    return n + 1
  elseif tv == "boolean" then
    out[n + 1] = v and "true" or "false"
    return n + 1
  elseif v == nil or v == null then
    out[n + 1] = "null"
    return n + 1
  elseif tv == "table" then
    if depth > 100 then error("json: nesting too deep", 0) end
    local arr, len = is_array(v)
    if arr then
      out[n + 1] = "["
      n = n + 1
      for i = 1, len do
        if i > 1 then out[n + 1] = ","; n = n + 1 end
        n = encode_value(v[i], out, n, depth + 1)
      end
      out[n + 1] = "]"
      return n + 1
    end
    out[n + 1] = "{"
    n = n + 1
    local first = true
    for k, val in pairs(v) do
      local tk = type(k)
      if tk == "number" then k = tostring(k) elseif tk ~= "string" then error("json: object keys must be strings", 0) end
      if not first then out[n + 1] = ","; n = n + 1 end
      first = false
      n = encode_string(k, out, n)
      out[n + 1] = ":"
      n = encode_value(val, out, n + 1, depth + 1)
    end
    out[n + 1] = "}"
    return n + 1
  end
  error("json: cannot encode a " .. tv, 0)
end

--- Encodes a Lua value as JSON text (raises on functions, NaN, cycles deeper than 100).
function M.encode(v)
  local out = {}
  local n = encode_value(v, out, 0, 0)
  return concat(out, "", 1, n)
end
-- A host may offer a native encoder with the same rules (fengari does: ~10x faster there).
if host.encode then M.encode = host.encode end

local decode_value

local function decode_error(s, pos, what)
  error(sformat("json: %s at position %d", what, pos), 0)
end

local function skip(s, pos)
  local _, e = sfind(s, "^[ \t\r\n]*", pos)
  return e + 1
end

local function utf8_encode(cp)
  if cp < 0x80 then return schar(cp)
  elseif cp < 0x800 then return schar(0xC0 | (cp >> 6), 0x80 | (cp & 0x3F))
  elseif cp < 0x10000 then return schar(0xE0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F))
  end
  return schar(0xF0 | (cp >> 18), 0x80 | ((cp >> 12) & 0x3F), 0x80 | ((cp >> 6) & 0x3F), 0x80 | (cp & 0x3F))
end

local unescapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t' }

local function decode_string(s, pos)
  -- pos is just after the opening quote
  local parts, np = nil, 0
  local start = pos
  while true do
    local q = sfind(s, '["\\%c]', pos)
    if not q then decode_error(s, pos, "unterminated string") end
    local c = sbyte(s, q)
    if c == 34 then -- closing quote
      if not parts then return ssub(s, start, q - 1), q + 1 end
      np = np + 1; parts[np] = ssub(s, start, q - 1)
      return concat(parts, "", 1, np), q + 1
    elseif c == 92 then -- backslash
      parts = parts or {}
      np = np + 1; parts[np] = ssub(s, start, q - 1)
      local e = ssub(s, q + 1, q + 1)
      if e == "u" then
        local hex = ssub(s, q + 2, q + 5)
        if not sfind(hex, "^%x%x%x%x$") then decode_error(s, q, "bad \\u escape") end
        local cp = tonumber(hex, 16)
        local nextpos = q + 6
        if cp >= 0xD800 and cp <= 0xDBFF and ssub(s, nextpos, nextpos + 1) == "\\u" then
          local lo = tonumber(ssub(s, nextpos + 2, nextpos + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            nextpos = nextpos + 6
          end
        end
        np = np + 1; parts[np] = utf8_encode(cp)
        pos = nextpos
      else
        local r = unescapes[e]
        if not r then decode_error(s, q, "bad escape") end
        np = np + 1; parts[np] = r
        pos = q + 2
      end
      start = pos
    else
      decode_error(s, q, "control character in string")
    end
  end
end

decode_value = function(s, pos, depth)
  if depth > 200 then decode_error(s, pos, "nesting too deep") end
  pos = skip(s, pos)
  local c = sbyte(s, pos)
  if c == 34 then
    return decode_string(s, pos + 1)
  elseif c == 123 then -- {
    local obj = {}
    pos = skip(s, pos + 1)
    if sbyte(s, pos) == 125 then return obj, pos + 1 end
    while true do
      if sbyte(s, pos) ~= 34 then decode_error(s, pos, "expected a string key") end
      local k
      k, pos = decode_string(s, pos + 1)
      pos = skip(s, pos)
      if sbyte(s, pos) ~= 58 then decode_error(s, pos, "expected ':'") end
      local v
      v, pos = decode_value(s, pos + 1, depth + 1)
      obj[k] = v
      pos = skip(s, pos)
      c = sbyte(s, pos)
      if c == 125 then return obj, pos + 1 end
      if c ~= 44 then decode_error(s, pos, "expected ',' or '}'") end
      pos = skip(s, pos + 1)
    end
  elseif c == 91 then -- [
    local arr, n = setmetatable({}, array_mt), 0
    pos = skip(s, pos + 1)
    if sbyte(s, pos) == 93 then return arr, pos + 1 end
    while true do
      local v
      v, pos = decode_value(s, pos, depth + 1)
      n = n + 1; arr[n] = v
      pos = skip(s, pos)
      c = sbyte(s, pos)
      if c == 93 then return arr, pos + 1 end
      if c ~= 44 then decode_error(s, pos, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == 116 and ssub(s, pos, pos + 3) == "true" then return true, pos + 4
  elseif c == 102 and ssub(s, pos, pos + 4) == "false" then return false, pos + 5
  elseif c == 110 and ssub(s, pos, pos + 3) == "null" then return null, pos + 4
  end
  if c == 45 or (c and c >= 48 and c <= 57) then
    local p = c == 45 and pos + 1 or pos
    local _, e = sfind(s, "^0", p)
    if not e then _, e = sfind(s, "^[1-9]%d*", p) end
    if e then
      p = e + 1
      local frac = false
      _, e = sfind(s, "^%.%d+", p)
      if e then p = e + 1; frac = true end
      _, e = sfind(s, "^[eE][-+]?%d+", p)
      if e then p = e + 1; frac = true end
      local v = tonumber(ssub(s, pos, p - 1))
      if not frac then v = math.tointeger(v) or v end
      return v, p
    end
  end
  decode_error(s, pos, c and "unexpected character" or "unexpected end")
end

--- Decodes JSON text. Returns the value, or nil and an error message. null decodes to anomaly.null,
--- arrays carry anomaly.array's metatable (so they encode back as arrays even when empty).
function M.decode(s)
  if type(s) ~= "string" then return nil, "json: expected a string" end
  local ok, v, pos = pcall(decode_value, s, 1, 0)
  if not ok then return nil, v end
  pos = skip(s, pos)
  if pos <= #s then return nil, sformat("json: trailing data at position %d", pos) end
  return v
end

---------------------------------------------------------------------------------------------------
-- Request
---------------------------------------------------------------------------------------------------

local function url_decode(s)
  s = sgsub(s, "+", " ")
  return (sgsub(s, "%%(%x%x)", function(h) return schar(tonumber(h, 16)) end))
end
M.url_decode = url_decode

local function path_decode(s)
  return (sgsub(s, "%%(%x%x)", function(h) return schar(tonumber(h, 16)) end))
end

-- Multi-maps (query, headers) read the host's parsed request lazily: nothing is copied until asked.
local Multi = {}
Multi.__index = Multi
-- get is the host function itself (called as obj:get(name), it ignores obj); header names are lower-cased by the host.
function Multi:all(name) return { hall(self.kind, name) } end
function Multi:names() return { hnames(self.kind) } end
--- name -> list of values, for iteration.
function Multi:totable()
  local t, kind = {}, self.kind
  for _, name in ipairs({ hnames(kind) }) do t[name] = { hall(kind, name) } end
  return t
end

local HEADERS = setmetatable({ kind = 1, get = host.header }, Multi)
local QUERY = setmetatable({ kind = 2, get = host.query }, Multi)

local Request = {}
function Request:text() return self.body end
function Request:json() return M.decode(self.body) end
--- Parses an application/x-www-form-urlencoded body: name -> first value, and name -> list of values.
function Request:form()
  local first, all = {}, {}
  for pair in string.gmatch(self.body, "[^&]+") do
    local eq = sfind(pair, "=", 1, true)
    local k, v
    if eq then k, v = url_decode(ssub(pair, 1, eq - 1)), url_decode(ssub(pair, eq + 1)) else k, v = url_decode(pair), "" end
    if first[k] == nil then first[k] = v; all[k] = { v } else local l = all[k]; l[#l + 1] = v end
  end
  return first, all
end

-- The host answers maps as k1, v1, k2, v2, ... (no table building across the boundary).
local function pairs_to_map(...)
  local t, n = {}, select("#", ...)
  local list = { ... }
  for i = 1, n, 2 do t[list[i]] = list[i + 1] end
  return t
end

-- query and headers are shared accessors, looked up here rather than stored per request: eight
-- fields fit the constructor's smallest hash part, ten would double it.
local lazy = {
  query = function() return QUERY end,
  headers = function() return HEADERS end,
  cookies = function() return pairs_to_map(hmap(3)) end,
  params = function() return pairs_to_map(hmap(4)) end,
}

local request_mt = {
  __index = function(t, k)
    local m = Request[k]
    if m ~= nil then return m end
    local f = lazy[k]
    if f ~= nil then local v = f(); rawset(t, k, v); return v end
    return nil
  end,
  __name = "anomaly.Request",
}

---------------------------------------------------------------------------------------------------
-- Responses
---------------------------------------------------------------------------------------------------

local TEXT = "text/plain; charset=utf-8"

function M.response(status, headers, body) return { status = status or 200, headers = headers or {}, body = body } end
function M.text(s, status) return { status = status or 200, headers = { ["content-type"] = TEXT }, body = tostring(s) } end
function M.html(s, status) return { status = status or 200, headers = { ["content-type"] = "text/html; charset=utf-8" }, body = tostring(s) } end
function M.json(v, status) return { status = status or 200, headers = { ["content-type"] = "application/json" }, body = M.encode(v) } end
function M.bytes(b, status) return { status = status or 200, headers = { ["content-type"] = "application/octet-stream" }, body = b } end
function M.redirect(url, status) return { status = status or 302, headers = { location = url }, body = "" } end

---------------------------------------------------------------------------------------------------
-- Router
---------------------------------------------------------------------------------------------------

local App = {}
App.__index = App
App.__call = function(self, req) return self:handle(req) end
App.__name = "anomaly.App"
M.App = App

function App.new() return setmetatable({ routes = {} }, App) end

local function split(path)
  local segs, n = {}, 0
  for seg in string.gmatch(path, "[^/]+") do n = n + 1; segs[n] = seg end
  return segs, n
end

local function compile(pattern)
  local segs, n = split(pattern)
  for i = 1, n do
    local s = segs[i]
    local c = ssub(s, 1, 1)
    if c == ":" then segs[i] = { param = ssub(s, 2) }
    elseif c == "*" then
      if i ~= n then error("anomaly: '*' must be the last segment in " .. pattern, 3) end
      segs[i] = { rest = ssub(s, 2) ~= "" and ssub(s, 2) or "rest" }
    end
  end
  return segs, n
end

function App:route(method, pattern, handler)
  if type(handler) ~= "function" and not (getmetatable(handler) or {}).__call then
    error("anomaly: route handler must be callable", 2)
  end
  local segs, n = compile(pattern)
  local routes = self.routes
  routes[#routes + 1] = { method = method and method:upper() or nil, segs = segs, n = n, handler = handler }
  return self
end
for _, m in ipairs({ "get", "post", "put", "patch", "delete", "head", "options" }) do
  App[m] = function(self, pattern, handler) return self:route(m, pattern, handler) end
end
function App:all(pattern, handler) return self:route(nil, pattern, handler) end

local function match(route, segs, n)
  local params
  local rsegs = route.segs
  for i = 1, route.n do
    local r = rsegs[i]
    if type(r) == "table" and r.rest then
      params = params or {}
      local rest = {}
      for j = i, n do rest[#rest + 1] = segs[j] end
      params[r.rest] = path_decode(concat(rest, "/"))
      return params
    end
    local s = segs[i]
    if s == nil then return nil end
    if type(r) == "table" then
      params = params or {}
      params[r.param] = path_decode(s)
    elseif r ~= s then
      return nil
    end
  end
  if n ~= route.n then return nil end
  return params or {}
end

function App:handle(req)
  local segs, n = split(req.path)
  local method = req.method
  local allowed
  for _, route in ipairs(self.routes) do
    local params = match(route, segs, n)
    if params then
      local rm = route.method
      if rm == nil or rm == method or (method == "HEAD" and rm == "GET") then
        local merged = {}
        for k, v in pairs(req.params) do merged[k] = v end
        for k, v in pairs(params) do merged[k] = v end
        req.params = merged
        return route.handler(req)
      end
      allowed = allowed or {}
      allowed[#allowed + 1] = rm
    end
  end
  if allowed then
    local seen, list = {}, {}
    for _, m in ipairs(allowed) do if not seen[m] then seen[m] = true; list[#list + 1] = m end end
    local res = M.text("method not allowed", 405)
    res.headers.allow = concat(list, ", ")
    return res
  end
  return M.text("not found", 404)
end

---------------------------------------------------------------------------------------------------
-- Dispatch (host side): build the request, call the app, flatten the answer.
---------------------------------------------------------------------------------------------------

local unpack = table.unpack

local function flatten_headers(h, flat)
  local n = 0
  for k, v in pairs(h) do
    if type(k) == "number" then -- array form: { {"name", "value"}, ... }
      flat[n + 1] = tostring(v[1]); flat[n + 2] = tostring(v[2]); n = n + 2
    elseif type(v) == "table" then
      for _, one in ipairs(v) do flat[n + 1] = k; flat[n + 2] = tostring(one); n = n + 2 end
    else
      flat[n + 1] = k; flat[n + 2] = tostring(v); n = n + 2
    end
  end
  return n
end

local function call_app(app, req)
  if type(app) == "function" then return app(req) end
  local h = rawget(app, "handle") or (getmetatable(app) and app.handle)
  if h then return h(app, req) end
  return app(req)
end

-- flat: return status, body, name, value, ... (for hosts where reading tables is dear); else the raw answer,
-- which the host reads itself (fengari: every Lua-side call and pairs step costs more than host reads).
local function dispatch(flat, app, method, path, raw_query, body, protocol, scheme, hostname, remote)
  local req = setmetatable({
    method = method, path = path, raw_query = raw_query, body = body,
    protocol = protocol, scheme = scheme, host = hostname, remote = remote,
  }, request_mt)
  local res
  if type(app) == "function" then res = app(req) else res = call_app(app, req) end
  if not flat then return res end
  local tr = type(res)
  if tr == "string" then return 200, res, 1 end -- (flat only; 1: the text content-type, see below)
  if tr ~= "table" then error("handler returned " .. tr .. " (expected a table or a string)", 0) end
  local status = res.status or 200
  if mtype(status) ~= "integer" then status = math.tointeger(status) end
  if not status or status < 100 or status > 999 then error("invalid status " .. tostring(res.status), 0) end
  local b = res.body
  if b ~= nil and type(b) ~= "string" then
    if type(b) == "number" then b = tostring(b) else error("body must be a string (got " .. type(b) .. ")", 0) end
  end
  -- status, body, then the headers as name, value, ... (read by stack index, no table walk).
  local h = res.headers
  if h == nil then return status, b end
  if type(h) ~= "table" then error("headers must be a table", 0) end
  -- One string header (what the helpers make): returned as is, without building a list; the two
  -- commonest, content-type text or JSON alone, as the numbers 1 and 2 (the host has them ready).
  local k, v = next(h)
  if k == nil then return status, b end
  if type(k) == "string" and type(v) == "string" and next(h, k) == nil then
    if k == "content-type" then
      if v == TEXT then return status, b, 1 elseif v == "application/json" then return status, b, 2 end
    end
    return status, b, k, v
  end
  local list = {}
  return status, b, unpack(list, 1, flatten_headers(h, list))
end

return M, dispatch
