package anomaly;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What a handler answers: a status, headers (names are lower-cased by the server; repeats are
 * kept) and a body (text, bytes or none). A text body without content-type is sent as
 * text/plain; charset=utf-8.
 */
public final class Response {
    private int status;
    private final List<String[]> headers = new ArrayList<>(4);
    private byte[] body;
    private boolean text;

    public Response(int status) {
        this.status = status;
    }

    /** 200 text/plain; charset=utf-8. */
    public static Response text(String text) {
        return text(text, 200);
    }

    public static Response text(String text, int status) {
        return new Response(status).header("content-type", "text/plain; charset=utf-8").body(text);
    }

    /** 200 application/json: the value serialised by {@link Json#stringify}. */
    public static Response json(Object value) {
        return json(value, 200);
    }

    public static Response json(Object value, int status) {
        return new Response(status).header("content-type", "application/json").body(Json.stringify(value));
    }

    /** 200 application/octet-stream. */
    public static Response bytes(byte[] bytes) {
        return new Response(200).header("content-type", "application/octet-stream").body(bytes);
    }

    /** A status with no body (204, 304, ...). */
    public static Response empty(int status) {
        return new Response(status);
    }

    /** 302 to location (or another 3xx status). */
    public static Response redirect(String location) {
        return redirect(location, 302);
    }

    public static Response redirect(String location, int status) {
        return new Response(status).header("location", location);
    }

    public Response status(int status) {
        this.status = status;
        return this;
    }

    /** Adds a header (repeats are kept: set-cookie). */
    public Response header(String name, String value) {
        headers.add(new String[] {name, value});
        return this;
    }

    /** Replaces every header of that name with one value. */
    public Response setHeader(String name, String value) {
        headers.removeIf(h -> h[0].equalsIgnoreCase(name));
        return header(name, value);
    }

    public Response body(String text) {
        this.body = text == null ? null : text.getBytes(StandardCharsets.UTF_8);
        this.text = text != null;
        return this;
    }

    public Response body(byte[] bytes) {
        this.body = bytes;
        this.text = false;
        return this;
    }

    public int status() {
        return status;
    }

    /** [name, value] pairs in order. */
    public List<String[]> headers() {
        return headers;
    }

    /** The first value of a header (case-insensitive), or null. */
    public String header(String name) {
        for (String[] h : headers) if (h[0].equalsIgnoreCase(name)) return h[1];
        return null;
    }

    /** Whether the body was given as text (it then defaults to text/plain; charset=utf-8). */
    public boolean isText() {
        return text;
    }

    /** The body bytes, or null for none. */
    public byte[] body() {
        return body;
    }
}
