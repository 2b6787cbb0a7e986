package anomaly;

import java.lang.reflect.Array;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader and writer (no dependency). Parsing gives Map (LinkedHashMap, key order
 * kept), List, String, Long (integers that fit) or Double, Boolean and null. Writing accepts
 * those plus any Number, Character, arrays and Iterables; other objects are written as their
 * toString() text.
 */
public final class Json {
    private Json() {}

    /** Invalid JSON text; the message says where. */
    public static final class Error extends RuntimeException {
        public Error(String message) {
            super(message);
        }
    }

    public static Object parse(String text) {
        Parser p = new Parser(text);
        p.space();
        Object v = p.value(0);
        p.space();
        if (p.i != text.length()) throw p.fail("unexpected text after the value");
        return v;
    }

    public static String stringify(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, int depth) {
        if (depth > 512) throw new IllegalArgumentException("JSON nesting deeper than 512 (a cycle?)");
        if (v == null) sb.append("null");
        else if (v instanceof String) quote(sb, (String) v);
        else if (v instanceof Boolean) sb.append(v.toString());
        else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            if (Double.isNaN(d) || Double.isInfinite(d)) sb.append("null");
            else if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append((long) d);
            else sb.append(d);
        } else if (v instanceof Number) sb.append(v.toString());
        else if (v instanceof Character) quote(sb, v.toString());
        else if (v instanceof Map) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (!first) sb.append(',');
                first = false;
                quote(sb, String.valueOf(e.getKey()));
                sb.append(':');
                write(sb, e.getValue(), depth + 1);
            }
            sb.append('}');
        } else if (v instanceof Iterable) {
            sb.append('[');
            boolean first = true;
            for (Object o : (Iterable<?>) v) {
                if (!first) sb.append(',');
                first = false;
                write(sb, o, depth + 1);
            }
            sb.append(']');
        } else if (v.getClass().isArray()) {
            sb.append('[');
            int n = Array.getLength(v);
            for (int k = 0; k < n; k++) {
                if (k > 0) sb.append(',');
                write(sb, Array.get(v, k), depth + 1);
            }
            sb.append(']');
        } else quote(sb, v.toString());
    }

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                default:
                    if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                        sb.append("\\u").append(HEX[(c >> 12) & 0xf]).append(HEX[(c >> 8) & 0xf])
                                .append(HEX[(c >> 4) & 0xf]).append(HEX[c & 0xf]);
                    } else sb.append(c);
            }
        }
        sb.append('"');
    }

    private static final class Parser {
        final String s;
        int i;

        Parser(String s) {
            this.s = s;
        }

        Error fail(String why) {
            return new Error("invalid JSON at offset " + i + ": " + why);
        }

        void space() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c != ' ' && c != '\n' && c != '\r' && c != '\t') break;
                i++;
            }
        }

        Object value(int depth) {
            if (depth > 512) throw fail("nesting deeper than 512");
            if (i >= s.length()) throw fail("unexpected end");
            char c = s.charAt(i);
            switch (c) {
                case '{': return object(depth);
                case '[': return array(depth);
                case '"': return string();
                case 't': return literal("true", Boolean.TRUE);
                case 'f': return literal("false", Boolean.FALSE);
                case 'n': return literal("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return number();
                    throw fail("unexpected character '" + c + "'");
            }
        }

        Object literal(String word, Object v) {
            if (!s.startsWith(word, i)) throw fail("expected " + word);
            i += word.length();
            return v;
        }

        Map<String, Object> object(int depth) {
            Map<String, Object> m = new LinkedHashMap<>();
            i++;
            space();
            if (i < s.length() && s.charAt(i) == '}') {
                i++;
                return m;
            }
            for (;;) {
                space();
                if (i >= s.length() || s.charAt(i) != '"') throw fail("expected a string key");
                String k = string();
                space();
                if (i >= s.length() || s.charAt(i) != ':') throw fail("expected ':'");
                i++;
                space();
                m.put(k, value(depth + 1));
                space();
                if (i >= s.length()) throw fail("unexpected end in an object");
                char c = s.charAt(i++);
                if (c == '}') return m;
                if (c != ',') throw fail("expected ',' or '}'");
            }
        }

        List<Object> array(int depth) {
            List<Object> a = new ArrayList<>();
            i++;
            space();
            if (i < s.length() && s.charAt(i) == ']') {
                i++;
                return a;
            }
            for (;;) {
                space();
                a.add(value(depth + 1));
                space();
                if (i >= s.length()) throw fail("unexpected end in an array");
                char c = s.charAt(i++);
                if (c == ']') return a;
                if (c != ',') throw fail("expected ',' or ']'");
            }
        }

        String string() {
            i++;
            StringBuilder sb = null;
            int start = i;
            for (;;) {
                if (i >= s.length()) throw fail("unterminated string");
                char c = s.charAt(i);
                if (c == '"') {
                    String out = sb == null ? s.substring(start, i) : sb.append(s, start, i).toString();
                    i++;
                    return out;
                }
                if (c < 0x20) throw fail("control character in a string");
                if (c == '\\') {
                    if (sb == null) sb = new StringBuilder();
                    sb.append(s, start, i);
                    if (i + 1 >= s.length()) throw fail("unterminated escape");
                    char e = s.charAt(i + 1);
                    i += 2;
                    switch (e) {
                        case '"': sb.append('"'); break;
                        case '\\': sb.append('\\'); break;
                        case '/': sb.append('/'); break;
                        case 'b': sb.append('\b'); break;
                        case 'f': sb.append('\f'); break;
                        case 'n': sb.append('\n'); break;
                        case 'r': sb.append('\r'); break;
                        case 't': sb.append('\t'); break;
                        case 'u':
                            if (i + 4 > s.length()) throw fail("short \\u escape");
                            try {
                                sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            } catch (NumberFormatException x) {
                                throw fail("bad \\u escape");
                            }
                            i += 4;
                            break;
                        default: throw fail("bad escape \\" + e);
                    }
                    start = i;
                } else i++;
            }
        }

        Object number() {
            int start = i;
            if (s.charAt(i) == '-') i++;
            boolean integer = true;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c >= '0' && c <= '9') i++;
                else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
                    integer = false;
                    i++;
                } else break;
            }
            String t = s.substring(start, i);
            try {
                if (integer && t.length() < 19) return Long.parseLong(t);
                return Double.parseDouble(t);
            } catch (NumberFormatException x) {
                i = start;
                throw fail("bad number " + t);
            }
        }
    }
}
