# echo (apps/README.md): answers the request as the app sees it, already parsed by the host.
from anomaly import json


def handler(req):
    return json({
        "language": "python",
        "method": req.method,
        "path": req.path,
        "query": req.query.to_dict(),
        "headers": req.headers.to_dict(),
        "cookies": req.cookies,
        "bodyLength": len(req.body),
        "bodyText": req.text(),
    })
