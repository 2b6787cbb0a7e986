package anomaly;

import java.util.concurrent.CompletionStage;

/**
 * An app whose answer comes later: the returned stage completes with the Response (or
 * exceptionally: 500). The deadline still applies; the instance's worker waits for the stage.
 */
@FunctionalInterface
public interface AsyncHandler {
    CompletionStage<Response> handle(Request req) throws Exception;
}
