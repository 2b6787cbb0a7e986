// hello (apps/README.md): the smallest app, for latency comparisons.
import anomaly.Handler;
import anomaly.Request;
import anomaly.Response;

public class App implements Handler {
    public Response handle(Request req) {
        return Response.text("hello from java");
    }
}
