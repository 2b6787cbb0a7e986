package anomaly;

/**
 * An app: takes the parsed request, answers a Response. App.java's public class implements this
 * (directly, or by extending {@link Router}). Runs on the app instance's worker thread, one
 * request at a time per instance; it may block (I/O, sleep): the server keeps serving meanwhile.
 */
@FunctionalInterface
public interface Handler {
    Response handle(Request req) throws Exception;
}
