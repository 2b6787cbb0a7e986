package anomaly.host;

import java.io.File;
import java.lang.reflect.Method;
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

    static {
        // anomaly's log lines are on stdout (JSON): an app's System.out.println must not land between them.
        System.setOut(System.err);
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

    /** One request: 'R' answer, 'E' error, or 'P' ticket for waitFor. */
    public static byte[] call(int id, String frameBase64, int spinMicros, int waitMicros) {
        Instance inst = instances.get(id);
        if (inst == null) return Frames.error(Frames.KIND_EXCEPTION, 0, "no such app instance " + id);
        return inst.call(frameBase64, spinMicros * 1000L, waitMicros * 1000L);
    }

    /**
     * The same call run on the calling thread, with no deadline: for bench/micro/java-call.mjs only
     * (it measures what the hand-off to the worker costs). Never used to serve requests: a handler
     * that loops would hold the event loop forever.
     */
    public static byte[] callInline(int id, String frameBase64) {
        Instance inst = instances.get(id);
        if (inst == null) return Frames.error(Frames.KIND_EXCEPTION, 0, "no such app instance " + id);
        return inst.runInline(frameBase64);
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
     * "stopped abandoned running stopSupported compiles": worker threads stopped with Thread.stop,
     * abandoned, abandoned ones still running; whether this JVM has Thread.stop; sources compiled.
     */
    public static String stats() {
        return stoppedThreads + " " + abandonedThreads + " " + runningStuck + " " + (stopSupported ? 1 : 0) + " " + GuestCompiler.compiles();
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
            if (s.inst.current != s.job || !s.inst.worker.isAlive()) {
                stuck.remove(k); // the worker left the call: interrupt (or stop) worked
                continue;
            }
            long ms = (now - s.since) / 1_000_000;
            if (ms >= ABANDON_AFTER_MS) {
                if (!s.abandoned) {
                    s.abandoned = true;
                    abandonedThreads++;
                    instances.remove(s.inst.id);
                }
                running++;
            } else if (ms >= STOP_AFTER_MS && stopSupported) {
                // Repeated every tick: a guest that catches ThreadDeath gets it again.
                if (stop(s.inst.worker) && !s.stopped) {
                    s.stopped = true;
                    stoppedThreads++;
                }
            }
        }
        runningStuck = running;
    }

    /** Thread.stop: deprecated and removed in Java 20 (throws there), still the only way to end a loop that ignores interrupts. */
    private static boolean stop(Thread t) {
        try {
            Method m = Thread.class.getMethod("stop");
            m.invoke(t);
            return true;
        } catch (Throwable e) {
            stopSupported = false;
            return false;
        }
    }
}
