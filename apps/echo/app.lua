-- echo (apps/README.md): answers the request as the app sees it, already parsed by the host.
local anomaly = require("anomaly")

return function(req)
  return anomaly.json({
    language = "lua",
    method = req.method,
    path = req.path,
    query = req.query:totable(),
    headers = req.headers:totable(),
    cookies = req.cookies,
    bodyLength = #req.body,
    bodyText = req:text(),
  })
end
