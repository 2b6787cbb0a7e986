package anomaly.host;

import java.io.File;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The entry points the Node host calls through java-bridge (runtimes/java). Only ints, base64
 * strings and byte[] cross the bridge (see Frames). load and waitFor are called asynchronously
 * (they block a bridge pool thread, not the event loop); call is synchronous and bounded by its
 * wait budget.
 *
 * A watchdog thread enforces deadlines: the call is answered as timed out, the worker interrupted;
 * a worker still inside that call after STOP_AFTER_MS is stopped with Thread.stop where the JVM
 * still has it (up to Java 19), and one still running after ABANDON_AFTER_MS is abandoned: its
 * instance was already replaced, the thread is counted in stats() and keeps running.
 */
public final class Host {
    private static final Map<Integer, Instance> instances = new ConcurrentHashMap<>();
    private static final Map<Integer, Job> parked = new ConcurrentHashMap<>();
    private static final AtomicInteger ids = new AtomicInteger();
    private static final AtomicInteger tickets = new AtomicInteger();
    private static final List<Stuck> stuck = new ArrayList<>();
    private static final long STOP_AFTER_MS = 100, ABANDON_AFTER_MS = 1000, TICK_MS = 5;
    private static volatile int stoppedThreads, abandonedThreads, runningStuck;
    private static volatile boolean stopSupported = true;
    private static final Thread watchdog = new Thread(Host::watch, "anomaly-watchdog");
    private static final Method STOP = stopMethod();
    /** Whether this process is a worker under anomaly's supervisor (src/server/workers), which restarts it when it exits. */
    private static final boolean SUPERVISED = System.getenv("ANOMALY_WORKER") != null;
    static volatile long inlineCalls;

    /** Thread.stop, when this JVM still has one that works (it throws from Java 20 on). */
    private static Method stopMethod() {
        try {
            Method m = Thread.class.getMethod("stop");
            if (Runtime.version().feature() >= 20) {
                stopSupported = false;
                return null;
            }
            return m;
        } catch (Throwable t) {
            stopSupported = false;
            return null;
        }
    }

    static {
        // anomaly's log lines are on stdout (JSON): an app's System.out.println must not land between them.
        System.setOut(System.err);
        // How native/jni finds this class: java-bridge's class loader is invisible to JNI's FindClass.
        System.getProperties().put("anomaly.host.Host", Host.class);
        watchdog.setDaemon(true);
        watchdog.start();
    }

    private Host() {}


    /** The directory holding anomaly's compiled classes: the guest compile's classpath. */
    static String classesDir() {
        try {
            return new File(Host.class.getProtectionDomain().getCodeSource().getLocation().toURI()).getPath();
        } catch (Exception e) {
            return System.getProperty("java.class.path");
        }
    }

    private static String unb64(String s) {
        return new String(Base64.getDecoder().decode(s), StandardCharsets.UTF_8);
    }

    /** Compiles (cached by source) and starts an instance: 'L' id, or 'E' load error with its line. */
    public static byte[] load(String codeBase64, int deadlineMs, int maxResponse, int stackBytes) {
        Map<String, byte[]> classes;
        try {
            classes = GuestCompiler.compile(unb64(codeBase64));
        } catch (GuestCompiler.CompileError e) {
            return Frames.error(Frames.KIND_LOAD, e.line, e.getMessage());
        } catch (Throwable t) {
            return Frames.error(Frames.KIND_LOAD, 0, "the compiler failed: " + t);
        }
        int id = ids.incrementAndGet();
        Instance inst = new Instance(id, classes, deadlineMs, maxResponse, stackBytes);
        instances.put(id, inst);
        byte[] r = inst.start();
        if (r[0] == 'E') {
            instances.remove(id);
            inst.dispose();
            r[1] = Frames.KIND_LOAD;
        }
        return r;
    }

    /** One request through java-bridge (base64 frame): 'R' answer, 'E' error, or 'P' ticket for waitFor. */
    public static byte[] call(int id, String frameBase64, int spinMicros, int waitMicros) {
        Instance inst = instances.get(id);
        if (inst == null) return Frames.error(Frames.KIND_EXCEPTION, 0, "no such app instance " + id);
        return inst.call(Base64.getDecoder().decode(frameBase64), spinMicros * 1000L, waitMicros * 1000L);
    }

    /** The last answer callDirect could not fit into its out buffer (only the Node thread calls these). */
    private static byte[] oversize;

    /**
     * One request through native/jni: the frame is in[0, length), the answer ('R', 'E' or 'P', as
     * call's) is written to out[0, n) and n returned, or -1 when it does not fit (takeOversize has it).
     */
    public static int callDirect(int id, ByteBuffer in, int length, ByteBuffer out, int spinMicros, int waitMicros) {
        byte[] frame = new byte[length];
        in.position(0);
        in.get(frame, 0, length); // copied: the Node thread reuses the buffer while a slow call runs on
        Instance inst = instances.get(id);
        byte[] answer = inst == null ? Frames.error(Frames.KIND_EXCEPTION, 0, "no such app instance " + id) : inst.call(frame, spinMicros * 1000L, waitMicros * 1000L);
        if (answer.length > out.capacity()) {
            oversize = answer;
            return -1;
        }
        out.position(0);
        out.put(answer);
        return answer.length;
    }

    public static byte[] takeOversize() {
        byte[] r = oversize;
        oversize = null;
        return r;
    }

    /**
     * The same call run on the calling thread, with no deadline: for bench/micro/java-call.mjs only
     * (it measures what the hand-off to the worker costs). Never used to serve requests: a handler
     * that loops would hold the event loop forever.
     */
    public static byte[] callInline(int id, String frameBase64) {
        Instance inst = instances.get(id);
        if (inst == null) return Frames.error(Frames.KIND_EXCEPTION, 0, "no such app instance " + id);
        return inst.runInline(Base64.getDecoder().decode(frameBase64));
    }

    /** The answer of a call that returned a ticket (blocks the calling pool thread until then). */
    public static byte[] waitFor(int ticket) {
        Job job = parked.remove(ticket);
        if (job == null) return Frames.error(Frames.KIND_EXCEPTION, 0, "unknown ticket " + ticket);
        return job.await();
    }

    static int park(Job job) {
        int t = tickets.incrementAndGet();
        parked.put(t, job);
        return t;
    }

    public static void dispose(int id) {
        Instance inst = instances.remove(id);
        if (inst != null) inst.dispose(); // a worker stuck in a call stays in the watchdog's list
    }

    public static boolean isBroken(int id) {
        Instance inst = instances.get(id);
        return inst == null || inst.broken;
    }

    /**
     * "stopped abandoned running stopSupported compiles inline": threads stopped with Thread.stop,
     * worker threads abandoned, abandoned ones still running; whether this JVM has Thread.stop;
     * sources compiled; calls run inline on the Node thread.
     */
    public static String stats() {
        return stoppedThreads + " " + abandonedThreads + " " + runningStuck + " " + (stopSupported ? 1 : 0) + " " + GuestCompiler.compiles() + " " + inlineCalls;
    }

    // ---- the watchdog -----------------------------------------------------------------------------

    private static final class Stuck {
        final Instance inst;
        final Job job;
        final long since;
        boolean abandoned, stopped;

        Stuck(Instance inst, Job job, long since) {
            this.inst = inst;
            this.job = job;
            this.since = since;
        }
    }

    private static void watch() {
        for (;;) {
            try {
                Thread.sleep(TICK_MS);
                tick();
            } catch (Throwable t) {
                // Keep watching (an OutOfMemoryError from a guest's bomb can land on any thread).
            }
        }
    }

    private static void tick() {
        long now = System.nanoTime();
        for (Instance inst : instances.values()) {
            Job job = inst.current;
            if (job != null && now - job.startedNs > inst.deadlineNs && inst.timeout(job)) stuck.add(new Stuck(inst, job, now));
        }
        int running = 0;
        for (int k = stuck.size() - 1; k >= 0; k--) {
            Stuck s = stuck.get(k);
            if (s.inst.current != s.job || !s.job.runner.isAlive()) {
                stuck.remove(k); // the thread left the call: interrupt (or stop) worked
                continue;
            }
            long ms = (now - s.since) / 1_000_000;
            boolean nodeThread = s.job.runner != s.inst.worker; // an inline call: never abandoned, see below
            if (ms >= ABANDON_AFTER_MS && !nodeThread) {
                if (!s.abandoned) {
                    s.abandoned = true;
                    abandonedThreads++;
                    instances.remove(s.inst.id);
                }
                running++;
            } else if (ms >= STOP_AFTER_MS && stopSupported) {
                // Repeated every tick: a guest that catches ThreadDeath gets it again.
                if (stopIfStill(s) && !s.stopped) {
                    s.stopped = true;
                    stoppedThreads++;
                }
            }
            if (nodeThread && ms >= ABANDON_AFTER_MS && !s.abandoned) {
                // The event loop is held by a handler that survives Thread.stop. Under the supervisor
                // (workers > 1) the worker process ends and a fresh one takes its place; alone, the
                // process can only keep stopping it.
                s.abandoned = true;
                System.err.println("anomaly: a Java handler running inline on the Node thread ignores Thread.stop; the event loop is blocked"
                        + (SUPERVISED ? ": this worker process exits (70) and the supervisor starts another" : ""));
                if (SUPERVISED) Runtime.getRuntime().halt(70);
            }
        }
        runningStuck = running;
    }

    /**
     * Stops the thread running a timed-out call if it is still in that call. An inline call
     * (Instance.callInline) leaves under the same lock, so the Node thread is not stopped after it
     * has left (a stop that lands anyway is caught by callDirect as an error answer).
     */
    private static boolean stopIfStill(Stuck s) {
        synchronized (s.job) {
            return s.inst.current == s.job && stop(s.job.runner);
        }
    }

    /** Whether Thread.stop works here (inline calls need it: see Instance.callInline). */
    static boolean canStop() {
        return stopSupported;
    }

    /** Thread.stop: deprecated and removed in Java 20 (throws there), still the only way to end a loop that ignores interrupts. */
    private static boolean stop(Thread t) {
        try {
            Method m = STOP;
            if (m == null) throw new UnsupportedOperationException();
            m.invoke(t);
            return true;
        } catch (Throwable e) {
            stopSupported = false;
            return false;
        }
    }
}
