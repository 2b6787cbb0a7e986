# An unmodified Bottle (WSGI) app: anomaly runs any WSGI callable defined as `app`.
from bottle import Bottle, request

app = Bottle()


@app.route("/hello/<name>")
def hello(name):
    return f"hello {name}, from Bottle over {request.environ['SERVER_PROTOCOL']}\n"
