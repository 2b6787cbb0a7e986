# A small notes API with the anomaly router: JSON in and out, path parameters, async handlers.
import asyncio

from anomaly import App, Response, json

notes: dict[int, dict] = {}
app = App()


@app.get("/")
def list_notes(req):
    return json(list(notes.values()))


@app.post("/")
def add(req):
    try:
        text = req.json()["text"]
    except (ValueError, KeyError, TypeError):
        return json({"error": "send {\"text\": \"...\"}"}, 400)
    note = {"id": len(notes) + 1, "text": text}
    notes[note["id"]] = note
    return json(note, 201).set("location", f"/notes/{note['id']}")


@app.get("/:id")
async def show(req):
    await asyncio.sleep(0)  # handlers may be async
    note = notes.get(int(req.params["id"])) if req.params["id"].isdigit() else None
    return json(note) if note else Response.text("no such note\n", 404)
