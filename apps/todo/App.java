// todo (apps/README.md): a small REST API over an in-memory list, with the binding's router.
import anomaly.Json;
import anomaly.Request;
import anomaly.Response;
import anomaly.Router;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class App extends Router {
    private final List<Map<String, Object>> items = new ArrayList<>();
    private long nextId = 1;

    public App() {
        get("/todos", req -> Response.json(items));
        post("/todos", this::create);
        get("/todos/:id", req -> {
            Map<String, Object> item = find(req);
            return item == null ? notFound() : Response.json(item);
        });
        patch("/todos/:id", this::update);
        delete("/todos/:id", req -> {
            Map<String, Object> item = find(req);
            if (item == null) return notFound();
            items.remove(item);
            return Response.empty(204);
        });
    }

    private Response create(Request req) {
        Map<String, Object> input = body(req);
        if (input == null) return badRequest("body must be a JSON object");
        Object title = input.get("title");
        if (!(title instanceof String) || ((String) title).isEmpty()) return badRequest("title must be a non-empty string");
        Object done = input.getOrDefault("done", Boolean.FALSE);
        if (!(done instanceof Boolean)) return badRequest("done must be a boolean");
        Map<String, Object> item = new LinkedHashMap<>();
        item.put("id", nextId++);
        item.put("title", title);
        item.put("done", done);
        items.add(item);
        return Response.json(item, 201).header("location", "/todos/" + item.get("id"));
    }

    private Response update(Request req) {
        Map<String, Object> item = find(req);
        if (item == null) return notFound();
        Map<String, Object> input = body(req);
        if (input == null) return badRequest("body must be a JSON object");
        Object title = input.get("title");
        if (input.containsKey("title") && (!(title instanceof String) || ((String) title).isEmpty())) return badRequest("title must be a non-empty string");
        Object done = input.get("done");
        if (input.containsKey("done") && !(done instanceof Boolean)) return badRequest("done must be a boolean");
        if (title != null) item.put("title", title);
        if (done != null) item.put("done", done);
        return Response.json(item);
    }

    private Map<String, Object> find(Request req) {
        for (Map<String, Object> item : items) if (String.valueOf(item.get("id")).equals(req.param("id"))) return item;
        return null;
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> body(Request req) {
        try {
            Object value = req.json();
            return value instanceof Map ? (Map<String, Object>) value : null;
        } catch (Json.Error e) {
            return null;
        }
    }

    private static Response notFound() {
        return Response.json(Map.of("error", "not found"), 404);
    }

    private static Response badRequest(String message) {
        return Response.json(Map.of("error", message), 400);
    }
}
