package anomaly.host;

import anomaly.Request;
import anomaly.Response;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The wire format between the host (runtimes/java/marshal.ts) and Java. User text never crosses
 * the bridge as a Java String (the bridge's string conversion corrupts characters outside the BMP
 * and rejects NUL): a request is one frame
 *
 *   u32 textBytes | text (UTF-8) | body bytes
 *
 * written by the host into a direct ByteBuffer (native/jni, Host.callDirect) or, without that
 * addon, passed as one base64 string through java-bridge (Host.call)
 *
 * where text is a run of fields, each "len:" + len UTF-16 units (the same count in JS and Java);
 * counts are "n:". Order: method path rawQuery protocol scheme host remote, then query, headers,
 * cookies, params as count + name/value pairs (a multi-valued name repeats).
 *
 * Answers are bytes (copied into the out ByteBuffer, or a byte[] through java-bridge): 'R' u16 status u16 nHeaders (u16 len name, u32 len value)*
 * i32 bodyLen (-1: none) body | 'P' u32 ticket (still running) | 'L' u32 instance id |
 * 'E' u8 kind i32 line message (UTF-8).
 */
final class Frames {
    static final byte KIND_LOAD = 0, KIND_EXCEPTION = 1, KIND_DEADLINE = 2, KIND_MEMORY = 3, KIND_RESPONSE = 4;

    private Frames() {}

    private static final class Reader {
        final String s;
        int i;

        Reader(String s) {
            this.s = s;
        }

        int num() {
            int n = 0;
            for (;;) {
                char c = s.charAt(i++);
                if (c == ':') return n;
                n = n * 10 + (c - '0');
            }
        }

        String str() {
            int n = num();
            String v = s.substring(i, i + n);
            i += n;
            return v;
        }

        Map<String, List<String>> multi() {
            int n = num();
            Map<String, List<String>> m = new LinkedHashMap<>(n * 2);
            for (int k = 0; k < n; k++) {
                String name = str();
                String value = str();
                List<String> values = m.get(name);
                if (values == null) {
                    values = new ArrayList<>(1);
                    m.put(name, values);
                }
                values.add(value);
            }
            return m;
        }

        Map<String, String> single() {
            int n = num();
            if (n == 0) return new LinkedHashMap<>();
            Map<String, String> m = new LinkedHashMap<>(n * 2);
            for (int k = 0; k < n; k++) m.put(str(), str());
            return m;
        }
    }

    static Request decodeRequest(byte[] frame) {
        int textBytes = ((frame[0] & 0xff) << 24) | ((frame[1] & 0xff) << 16) | ((frame[2] & 0xff) << 8) | (frame[3] & 0xff);
        Reader r = new Reader(new String(frame, 4, textBytes, StandardCharsets.UTF_8));
        String method = r.str(), path = r.str(), rawQuery = r.str(), protocol = r.str(), scheme = r.str(), host = r.str(),
                remote = r.str();
        Map<String, List<String>> query = r.multi();
        Map<String, List<String>> headers = r.multi();
        Map<String, String> cookies = r.single();
        Map<String, String> params = r.single();
        int bodyStart = 4 + textBytes;
        byte[] body = bodyStart == frame.length ? new byte[0] : Arrays.copyOfRange(frame, bodyStart, frame.length);
        return new Request(method, path, rawQuery, protocol, scheme, host, remote, query, headers, cookies, params, body);
    }

    /** Thrown when an answer cannot be encoded (too large, invalid status). */
    static final class BadResponse extends Exception {
        BadResponse(String message) {
            super(message);
        }
    }

    static byte[] encodeResponse(Response res, long maxBody) throws BadResponse {
        if (res == null) throw new BadResponse("the handler returned null instead of a Response");
        int status = res.status();
        if (status < 200 || status > 599) throw new BadResponse("invalid status " + status);
        byte[] body = res.body();
        if (body != null && body.length > maxBody) throw new BadResponse("response body of " + body.length + " bytes is over the limit (" + maxBody + ")");
        List<String[]> headers = res.headers();
        if (res.isText() && res.header("content-type") == null) {
            headers = new java.util.ArrayList<>(headers);
            headers.add(new String[] {"content-type", "text/plain; charset=utf-8"});
        }
        int n = headers.size();
        byte[][] enc = new byte[n * 2][];
        int size = 1 + 2 + 2 + 4 + (body == null ? 0 : body.length);
        for (int k = 0; k < n; k++) {
            String[] h = headers.get(k);
            enc[2 * k] = String.valueOf(h[0]).getBytes(StandardCharsets.UTF_8);
            enc[2 * k + 1] = String.valueOf(h[1]).getBytes(StandardCharsets.UTF_8);
            if (enc[2 * k].length > 0xffff) throw new BadResponse("header name too long");
            size += 2 + enc[2 * k].length + 4 + enc[2 * k + 1].length;
        }
        byte[] out = new byte[size];
        int o = 0;
        out[o++] = 'R';
        o = u16(out, o, status);
        o = u16(out, o, n);
        for (int k = 0; k < 2 * n; k += 2) {
            o = u16(out, o, enc[k].length);
            System.arraycopy(enc[k], 0, out, o, enc[k].length);
            o += enc[k].length;
            o = u32(out, o, enc[k + 1].length);
            System.arraycopy(enc[k + 1], 0, out, o, enc[k + 1].length);
            o += enc[k + 1].length;
        }
        if (body == null) {
            o = u32(out, o, -1);
        } else {
            o = u32(out, o, body.length);
            System.arraycopy(body, 0, out, o, body.length);
        }
        return out;
    }

    static byte[] error(byte kind, int line, String message) {
        byte[] m = (message == null ? "" : message).getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[1 + 1 + 4 + m.length];
        out[0] = 'E';
        out[1] = kind;
        u32(out, 2, line);
        System.arraycopy(m, 0, out, 6, m.length);
        return out;
    }

    static byte[] tagged(char tag, int value) {
        byte[] out = new byte[5];
        out[0] = (byte) tag;
        u32(out, 1, value);
        return out;
    }

    private static int u16(byte[] b, int o, int v) {
        b[o] = (byte) (v >>> 8);
        b[o + 1] = (byte) v;
        return o + 2;
    }

    private static int u32(byte[] b, int o, int v) {
        b[o] = (byte) (v >>> 24);
        b[o + 1] = (byte) (v >>> 16);
        b[o + 2] = (byte) (v >>> 8);
        b[o + 3] = (byte) v;
        return o + 4;
    }
}
