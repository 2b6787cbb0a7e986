// echo (apps/README.md): answers the request as the app sees it, already parsed by the host.
import anomaly.Handler;
import anomaly.Request;
import anomaly.Response;
import java.util.LinkedHashMap;
import java.util.Map;

public class App implements Handler {
    public Response handle(Request req) {
        Map<String, Object> seen = new LinkedHashMap<>();
        seen.put("language", "java");
        seen.put("method", req.method());
        seen.put("path", req.path());
        seen.put("query", req.query());
        seen.put("headers", req.headers());
        seen.put("cookies", req.cookies());
        seen.put("bodyLength", req.body().length);
        seen.put("bodyText", req.text());
        return Response.json(seen);
    }
}
