# hello (apps/README.md): the smallest app, for latency comparisons.
from anomaly import text


def handler(req):
    return text("hello from python")
