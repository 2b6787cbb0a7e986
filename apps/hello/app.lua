-- hello (apps/README.md): the smallest app, for latency comparisons.
local anomaly = require("anomaly")

return function()
  return anomaly.text("hello from lua")
end
