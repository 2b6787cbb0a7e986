-- todo (apps/README.md): a small REST API over an in-memory list, with the binding's router.
local anomaly = require("anomaly")

local items = anomaly.array({})
local next_id = 1

local function not_found() return anomaly.json({ error = "not found" }, 404) end
local function bad_request(message) return anomaly.json({ error = message }, 400) end

local function find(req)
  local id = tonumber(req.params.id)
  for index, item in ipairs(items) do
    if item.id == id then return item, index end
  end
  return nil
end

-- The body as a JSON object (a table that is not an array), or nil.
local function body(req)
  local value = req:json()
  if type(value) ~= "table" or value == anomaly.null or value[1] ~= nil then return nil end
  return value
end

local function valid_title(title) return type(title) == "string" and title ~= "" end

local app = anomaly.App.new()

app:get("/todos", function() return anomaly.json(items) end)

app:post("/todos", function(req)
  local input = body(req)
  if input == nil then return bad_request("body must be a JSON object") end
  if not valid_title(input.title) then return bad_request("title must be a non-empty string") end
  if input.done ~= nil and type(input.done) ~= "boolean" then return bad_request("done must be a boolean") end
  local item = { id = next_id, title = input.title, done = input.done == true }
  next_id = next_id + 1
  items[#items + 1] = item
  local res = anomaly.json(item, 201)
  res.headers.location = "/todos/" .. item.id
  return res
end)

app:get("/todos/:id", function(req)
  local item = find(req)
  if item == nil then return not_found() end
  return anomaly.json(item)
end)

app:patch("/todos/:id", function(req)
  local item = find(req)
  if item == nil then return not_found() end
  local input = body(req)
  if input == nil then return bad_request("body must be a JSON object") end
  if input.title ~= nil and not valid_title(input.title) then return bad_request("title must be a non-empty string") end
  if input.done ~= nil and type(input.done) ~= "boolean" then return bad_request("done must be a boolean") end
  if input.title ~= nil then item.title = input.title end
  if input.done ~= nil then item.done = input.done end
  return anomaly.json(item)
end)

app:delete("/todos/:id", function(req)
  local _, index = find(req)
  if index == nil then return not_found() end
  table.remove(items, index)
  return { status = 204, headers = {}, body = "" }
end)

return app
