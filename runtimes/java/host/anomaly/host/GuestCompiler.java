package anomaly.host;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.OutputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.FileObject;
import javax.tools.ForwardingJavaFileManager;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;

/**
 * Compiles an app's source in memory with javax.tools (no files written). The result (class name
 * to bytes) is cached by the source's hash: every instance of one version, and replacements of
 * broken instances, reuse one compile (0.1-0.5 s each otherwise).
 */
final class GuestCompiler {
    /** A compile error at a line of the app file (0 when unknown). */
    static final class CompileError extends Exception {
        final int line;

        CompileError(int line, String message) {
            super(message);
            this.line = line;
        }
    }

    private static final int CACHE_SIZE = 16;
    private static final Map<String, Map<String, byte[]>> cache = new LinkedHashMap<String, Map<String, byte[]>>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Map<String, byte[]>> e) {
            return size() > CACHE_SIZE;
        }
    };

    private static final java.util.concurrent.atomic.AtomicInteger compiles = new java.util.concurrent.atomic.AtomicInteger();

    private GuestCompiler() {}

    static int compiles() {
        return compiles.get();
    }

    static Map<String, byte[]> compile(String code) throws CompileError {
        String key = hash(code);
        synchronized (cache) {
            Map<String, byte[]> hit = cache.get(key);
            if (hit != null) return hit;
        }
        compiles.incrementAndGet();
        Map<String, byte[]> classes = compileNow(code);
        synchronized (cache) {
            cache.put(key, classes);
        }
        return classes;
    }

    private static Map<String, byte[]> compileNow(String code) throws CompileError {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) throw new CompileError(0, "this Java runtime has no compiler (javax.tools): run anomaly with a JDK, not a JRE");
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        Map<String, ByteArrayOutputStream> out = new HashMap<>();
        StandardJavaFileManager std = javac.getStandardFileManager(diagnostics, Locale.ROOT, StandardCharsets.UTF_8);
        ForwardingJavaFileManager<StandardJavaFileManager> files = new ForwardingJavaFileManager<StandardJavaFileManager>(std) {
            @Override
            public JavaFileObject getJavaFileForOutput(Location location, String className, JavaFileObject.Kind kind, FileObject sibling) {
                return new SimpleJavaFileObject(URI.create("mem:///" + className.replace('.', '/') + kind.extension), kind) {
                    @Override
                    public OutputStream openOutputStream() {
                        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                        out.put(className, bytes);
                        return bytes;
                    }
                };
            }
        };
        JavaFileObject source = new SimpleJavaFileObject(URI.create("mem:///App.java"), JavaFileObject.Kind.SOURCE) {
            @Override
            public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                return code;
            }

            // Any public class name is accepted: the file on disk is App.java, a fixture may be hello.java.
            @Override
            public boolean isNameCompatible(String simpleName, JavaFileObject.Kind kind) {
                return kind == JavaFileObject.Kind.SOURCE;
            }
        };
        List<String> options = new ArrayList<>(List.of("-g", "-proc:none", "-Xlint:none", "-nowarn", "-encoding", "UTF-8",
                "-classpath", Host.classesDir()));
        Boolean ok = javac.getTask(null, files, diagnostics, options, null, List.of(source)).call();
        if (!Boolean.TRUE.equals(ok)) {
            for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
                if (d.getKind() == Diagnostic.Kind.ERROR) {
                    int line = d.getLineNumber() == Diagnostic.NOPOS ? 0 : (int) d.getLineNumber();
                    throw new CompileError(line, "compile error: " + d.getMessage(Locale.ROOT).split("\n", 2)[0]);
                }
            }
            throw new CompileError(0, "compile error (no diagnostic)");
        }
        Map<String, byte[]> classes = new HashMap<>();
        for (Map.Entry<String, ByteArrayOutputStream> e : out.entrySet()) classes.put(e.getKey(), e.getValue().toByteArray());
        return classes;
    }

    private static String hash(String code) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(code.getBytes(StandardCharsets.UTF_8));
            StringBuilder sb = new StringBuilder();
            for (byte b : d) sb.append(String.format("%02x", b));
            return sb.toString();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The compiled classes of one instance; parented on the loader that holds the anomaly binding. */
    static final class MemoryLoader extends ClassLoader {
        private final Map<String, byte[]> classes;

        MemoryLoader(Map<String, byte[]> classes, ClassLoader parent) {
            super("anomaly-app", parent);
            this.classes = classes;
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            byte[] b = classes.get(name);
            if (b == null) throw new ClassNotFoundException(name);
            return defineClass(name, b, 0, b.length);
        }

        Iterable<String> names() {
            return classes.keySet();
        }
    }

    static String pathSeparator() {
        return File.pathSeparator;
    }
}
