package anomaly;

import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The request as the app sees it, already parsed by the server: method, path (after the mount
 * prefix, still percent-encoded), query and headers (name to values in order; header names are
 * lower-case), cookies, route params (percent-decoded), protocol ("h1", "h2"), scheme, host,
 * remote address and the whole body. Read-only.
 */
public final class Request {
    private final String method, path, rawQuery, protocol, scheme, host, remoteAddress;
    private final Map<String, List<String>> query, headers;
    private final Map<String, String> cookies, params;
    private final byte[] body;

    public Request(String method, String path, String rawQuery, String protocol, String scheme, String host,
            String remoteAddress, Map<String, List<String>> query, Map<String, List<String>> headers,
            Map<String, String> cookies, Map<String, String> params, byte[] body) {
        this.method = method;
        this.path = path;
        this.rawQuery = rawQuery;
        this.protocol = protocol;
        this.scheme = scheme;
        this.host = host;
        this.remoteAddress = remoteAddress;
        this.query = Collections.unmodifiableMap(query);
        this.headers = Collections.unmodifiableMap(headers);
        this.cookies = Collections.unmodifiableMap(cookies);
        this.params = Collections.unmodifiableMap(params);
        this.body = body;
    }

    /** The same request with more route params (the Router adds its own). */
    public Request withParams(Map<String, String> more) {
        if (more.isEmpty()) return this;
        Map<String, String> all = new LinkedHashMap<>(params);
        all.putAll(more);
        return new Request(method, path, rawQuery, protocol, scheme, host, remoteAddress, query, headers, cookies, all, body);
    }

    public String method() { return method; }
    public String path() { return path; }
    public String rawQuery() { return rawQuery; }
    public String protocol() { return protocol; }
    public String scheme() { return scheme; }
    public String host() { return host; }
    public String remoteAddress() { return remoteAddress; }

    /** Every query parameter: name to values in order. */
    public Map<String, List<String>> query() { return query; }

    /** The first value of a query parameter, or null. */
    public String query(String name) {
        List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** Every header: lower-case name to values in order. */
    public Map<String, List<String>> headers() { return headers; }

    /** The first value of a header (any case), or null. */
    public String header(String name) {
        List<String> v = headers.get(name.toLowerCase(java.util.Locale.ROOT));
        return v == null || v.isEmpty() ? null : v.get(0);
    }

    /** Every value of a header (any case), possibly empty. */
    public List<String> headerValues(String name) {
        List<String> v = headers.get(name.toLowerCase(java.util.Locale.ROOT));
        return v == null ? List.of() : v;
    }

    public Map<String, String> cookies() { return cookies; }

    public String cookie(String name) { return cookies.get(name); }

    /** Route params: the mount's (":tenant") and the Router's (":id"), percent-decoded. */
    public Map<String, String> params() { return params; }

    public String param(String name) { return params.get(name); }

    /** The body bytes (empty when there was none). Do not modify. */
    public byte[] body() { return body; }

    /** The body decoded as UTF-8 (invalid bytes become U+FFFD). */
    public String text() { return new String(body, StandardCharsets.UTF_8); }

    /** The body parsed as JSON (see {@link Json#parse}); throws Json.Error when it is not JSON. */
    public Object json() { return Json.parse(text()); }

    /** The body parsed as application/x-www-form-urlencoded: name to values in order. */
    public Map<String, List<String>> form() { return Router.parseForm(text()); }
}
