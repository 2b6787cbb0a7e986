# todo (apps/README.md): a small REST API over an in-memory list, with the binding's router.
from anomaly import App, Response, json

items: list[dict] = []
next_id = 1
app = App()


def not_found():
    return json({"error": "not found"}, 404)


def bad_request(message):
    return json({"error": message}, 400)


def body_of(req):
    try:
        value = req.json()
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def find(req):
    try:
        wanted = int(req.params["id"])
    except ValueError:
        return None
    return next((item for item in items if item["id"] == wanted), None)


def invalid(data, title_required):
    title = data.get("title")
    if (title_required or "title" in data) and (not isinstance(title, str) or title == ""):
        return "title must be a non-empty string"
    if "done" in data and not isinstance(data["done"], bool):
        return "done must be a boolean"
    return None


@app.get("/todos")
def list_items(req):
    return json(items)


@app.post("/todos")
def create(req):
    global next_id
    data = body_of(req)
    if data is None:
        return bad_request("body must be a JSON object")
    problem = invalid(data, True)
    if problem:
        return bad_request(problem)
    item = {"id": next_id, "title": data["title"], "done": data.get("done", False)}
    next_id += 1
    items.append(item)
    return json(item, 201).set("location", f"/todos/{item['id']}")


@app.get("/todos/:id")
def show(req):
    item = find(req)
    return not_found() if item is None else json(item)


@app.patch("/todos/:id")
def update(req):
    item = find(req)
    if item is None:
        return not_found()
    data = body_of(req)
    if data is None:
        return bad_request("body must be a JSON object")
    problem = invalid(data, False)
    if problem:
        return bad_request(problem)
    for key in ("title", "done"):
        if key in data:
            item[key] = data[key]
    return json(item)


@app.delete("/todos/:id")
def remove(req):
    item = find(req)
    if item is None:
        return not_found()
    items.remove(item)
    return Response(None, 204)
