package anomaly;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A small router for framework-style apps: {@code get("/users/:id", h)}. Patterns are split on
 * "/": ":name" matches one segment (percent-decoded into the request's params), "*name" (or "*")
 * the rest of the path. Routes are tried in the order added. A path that matches with another
 * method answers 405 with allow; no match answers 404 (override {@link #notFound}).
 * App.java can extend it ({@code public class App extends Router { public App() { get(...); } }})
 * or build one and delegate to it.
 */
public class Router implements Handler {
    private static final class Route {
        final String method;
        final String[] parts;
        final Handler handler;

        Route(String method, String pattern, Handler handler) {
            this.method = method;
            this.parts = split(pattern);
            this.handler = handler;
        }
    }

    private final List<Route> routes = new ArrayList<>();

    public Router route(String method, String pattern, Handler handler) {
        routes.add(new Route(method.toUpperCase(java.util.Locale.ROOT), pattern, handler));
        return this;
    }

    public Router get(String pattern, Handler h) { return route("GET", pattern, h); }
    public Router post(String pattern, Handler h) { return route("POST", pattern, h); }
    public Router put(String pattern, Handler h) { return route("PUT", pattern, h); }
    public Router patch(String pattern, Handler h) { return route("PATCH", pattern, h); }
    public Router delete(String pattern, Handler h) { return route("DELETE", pattern, h); }
    /** Any method. */
    public Router all(String pattern, Handler h) { return route("*", pattern, h); }

    @Override
    public Response handle(Request req) throws Exception {
        String[] path = split(req.path());
        Set<String> allowed = null;
        for (Route r : routes) {
            Map<String, String> params = match(r.parts, path);
            if (params == null) continue;
            String m = req.method();
            if (r.method.equals("*") || r.method.equals(m) || (m.equals("HEAD") && r.method.equals("GET"))) {
                return r.handler.handle(req.withParams(params));
            }
            if (allowed == null) allowed = new LinkedHashSet<>();
            allowed.add(r.method);
        }
        if (allowed != null) {
            return Response.json(Map.of("error", "method not allowed"), 405).header("allow", String.join(", ", allowed));
        }
        return notFound(req);
    }

    /** The answer when no route matches: 404 JSON {"error": "not found"}. */
    protected Response notFound(Request req) {
        return Response.json(Map.of("error", "not found"), 404);
    }

    private static String[] split(String path) {
        List<String> out = new ArrayList<>();
        int start = 0;
        int n = path.length();
        while (start <= n) {
            int slash = path.indexOf('/', start);
            if (slash < 0) slash = n;
            if (slash > start) out.add(path.substring(start, slash));
            start = slash + 1;
        }
        return out.toArray(new String[0]);
    }

    private static Map<String, String> match(String[] pattern, String[] path) {
        Map<String, String> params = null;
        for (int i = 0; i < pattern.length; i++) {
            String p = pattern[i];
            if (p.startsWith("*")) {
                if (params == null) params = new LinkedHashMap<>();
                StringBuilder rest = new StringBuilder();
                for (int k = i; k < path.length; k++) {
                    if (k > i) rest.append('/');
                    rest.append(path[k]);
                }
                params.put(p.length() == 1 ? "*" : p.substring(1), decode(rest.toString(), false));
                return params;
            }
            if (i >= path.length) return null;
            if (p.startsWith(":")) {
                if (params == null) params = new LinkedHashMap<>();
                params.put(p.substring(1), decode(path[i], false));
            } else if (!p.equals(path[i])) {
                return null;
            }
        }
        if (pattern.length != path.length) return null;
        return params == null ? Map.of() : params;
    }

    /** Percent-decoding as UTF-8 (invalid sequences become U+FFFD); '+' is a space in forms only. */
    public static String decode(String s, boolean plusIsSpace) {
        if (s.indexOf('%') < 0 && (!plusIsSpace || s.indexOf('+') < 0)) return s;
        ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '%' && i + 2 < s.length() && hex(s.charAt(i + 1)) >= 0 && hex(s.charAt(i + 2)) >= 0) {
                out.write(hex(s.charAt(i + 1)) * 16 + hex(s.charAt(i + 2)));
                i += 2;
            } else if (c == '+' && plusIsSpace) {
                out.write(' ');
            } else {
                byte[] b = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                if (Character.isHighSurrogate(c) && i + 1 < s.length()) {
                    b = s.substring(i, i + 2).getBytes(StandardCharsets.UTF_8);
                    i++;
                }
                out.write(b, 0, b.length);
            }
        }
        return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }

    private static int hex(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    static Map<String, List<String>> parseForm(String text) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        if (text.isEmpty()) return out;
        for (String pair : text.split("&")) {
            if (pair.isEmpty()) continue;
            int eq = pair.indexOf('=');
            String name = decode(eq < 0 ? pair : pair.substring(0, eq), true);
            String value = eq < 0 ? "" : decode(pair.substring(eq + 1), true);
            out.computeIfAbsent(name, k -> new ArrayList<>()).add(value);
        }
        return out;
    }
}
