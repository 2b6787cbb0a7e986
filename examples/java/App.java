// A notes API with the anomaly Router: GET /, POST / (JSON {"text": ...}), GET /:id, DELETE /:id.
import anomaly.Json;
import anomaly.Request;
import anomaly.Response;
import anomaly.Router;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

public class App extends Router {
    // In-memory state lives in the instance (each has its own class loader, statics included):
    // anomaly.yaml runs one instance so that every request sees the same notes; a reload starts empty.
    private final Map<Long, String> notes = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    public App() {
        get("/", req -> Response.json(notes));
        post("/", this::create);
        get("/:id", req -> {
            String text = notes.get(id(req));
            return text == null ? Response.json(Map.of("error", "not found"), 404) : Response.json(Map.of("id", id(req), "text", text));
        });
        delete("/:id", req -> notes.remove(id(req)) == null ? Response.json(Map.of("error", "not found"), 404) : Response.empty(204));
    }

    private Response create(Request req) {
        Object body;
        try {
            body = req.json();
        } catch (Json.Error e) {
            return Response.json(Map.of("error", e.getMessage()), 400);
        }
        if (!(body instanceof Map) || !(((Map<?, ?>) body).get("text") instanceof String)) {
            return Response.json(Map.of("error", "send {\"text\": \"...\"}"), 400);
        }
        long id = ids.incrementAndGet();
        notes.put(id, (String) ((Map<?, ?>) body).get("text"));
        Map<String, Object> note = new LinkedHashMap<>();
        note.put("id", id);
        note.put("text", notes.get(id));
        return Response.json(note, 201).header("location", "/notes/" + id);
    }

    private static long id(Request req) {
        try {
            return Long.parseLong(req.param("id"));
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
