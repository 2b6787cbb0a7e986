package anomaly.host;

import anomaly.AsyncHandler;
import anomaly.Handler;
import anomaly.Response;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * One loaded app version: its own class loader (static state is per instance; a reload or a
 * replacement starts clean) and its own worker thread, which runs the calls one at a time.
 *
 * The host calls {@link #call} synchronously from the Node thread: the job goes to the worker and
 * the caller waits a short budget (spinning, then parked). Small handlers answer within it, so a
 * request costs one synchronous bridge call; a slower one returns a ticket and the host waits for
 * it with an asynchronous bridge call (Host.waitFor, on the bridge's thread pool), so a slow
 * handler never holds the event loop for more than the budget. Apps whose recent calls were slow
 * skip the budget altogether; apps whose calls have all been quick run them inline instead (see
 * callInline), and leave that mode at their first slow call.
 */
final class Instance {
    final int id;
    final long deadlineNs;
    final long maxResponse;
    private final GuestCompiler.MemoryLoader loader;
    // A lock-free queue and park/unpark: the hand-off is on every request's path.
    private final ConcurrentLinkedQueue<Job> queue = new ConcurrentLinkedQueue<>();
    final Thread worker;
    volatile Job current;
    volatile boolean broken;
    private volatile boolean disposed;
    private Object app;
    private static final byte[] OUT_OF_MEMORY = Frames.error(Frames.KIND_MEMORY, 0, "out of memory");
    /** Recent call duration (ns), exponentially averaged: decides whether the caller waits at all. */
    private volatile long typicalNs;
    /**
     * Inline calls: an app whose last streakNeeded calls each took under FAST_NS runs its calls on
     * the calling (Node) thread, saving the hand-off to the worker (two context switches, ≈20 µs on
     * a loaded CPU). The first slow call sends it back to the worker and, once the instance is warm
     * (the JIT's first compiles make early calls slow), doubles the streak it must show again, so an
     * app that is sometimes slow ends up on the worker for good. Only where the
     * watchdog can stop a runaway call (Thread.stop, up to Java 19); ANOMALY_JAVA_INLINE=0 turns it off.
     */
    private static final boolean INLINE = !"0".equals(System.getenv("ANOMALY_JAVA_INLINE"));
    private static final long FAST_NS = 1_000_000; // wall time: a busy CPU can preempt a quick call for a few hundred µs
    private static final int FIRST_STREAK = 64, MAX_STREAK = 1 << 16, WARM_CALLS = 5000;
    private volatile int fastStreak, streakNeeded = FIRST_STREAK, learned;

    Instance(int id, Map<String, byte[]> classes, long deadlineMs, long maxResponse, long stackBytes) {
        this.id = id;
        this.deadlineNs = deadlineMs * 1_000_000L;
        this.maxResponse = maxResponse;
        this.loader = new GuestCompiler.MemoryLoader(classes, Host.class.getClassLoader());
        // The app's stack limit is the worker's stack size (a StackOverflowError is a 500, the instance stays).
        this.worker = new Thread(null, this::work, "anomaly-app-" + id, stackBytes);
        this.worker.setDaemon(true);
        this.worker.setContextClassLoader(loader); // libraries that look classes up through it find the app's
        this.worker.start();
    }

    // ---- loading ------------------------------------------------------------------------------

    /** Finds the app class and constructs it on the worker (so a constructor that hangs meets the deadline). */
    byte[] start() {
        Job job = new Job(null, () -> {
            app = construct();
            return Frames.tagged('L', id);
        });
        submit(job);
        return job.await();
    }

    private Object construct() throws Exception {
        List<Class<?>> found = new ArrayList<>();
        for (String name : loader.names()) {
            if (name.indexOf('$') >= 0) continue;
            Class<?> c = Class.forName(name, false, loader);
            if (!Modifier.isPublic(c.getModifiers()) || Modifier.isAbstract(c.getModifiers())) continue;
            if (Handler.class.isAssignableFrom(c) || AsyncHandler.class.isAssignableFrom(c)) found.add(c);
        }
        if (found.isEmpty()) throw new LoadProblem("the file declares no public class implementing anomaly.Handler (or AsyncHandler, or extending anomaly.Router)");
        Class<?> pick = found.get(0);
        for (Class<?> c : found) if (c.getSimpleName().equals("App")) pick = c;
        if (found.size() > 1 && !pick.getSimpleName().equals("App")) throw new LoadProblem("several public handler classes; name the one to run App");
        Constructor<?> ctor;
        try {
            ctor = pick.getConstructor();
        } catch (NoSuchMethodException e) {
            throw new LoadProblem("public class " + pick.getSimpleName() + " needs a public no-argument constructor");
        }
        try {
            return ctor.newInstance();
        } catch (InvocationTargetException e) {
            Throwable t = e.getCause();
            if (t instanceof Exception) throw (Exception) t;
            if (t instanceof Error) throw (Error) t;
            throw e;
        }
    }

    /** A problem with the app's shape (not an exception of its code). */
    static final class LoadProblem extends Exception {
        LoadProblem(String message) {
            super(message);
        }
    }

    // ---- calls ----------------------------------------------------------------------------------

    byte[] call(byte[] frame, long spinNs, long waitNs) {
        if (disposed) return Frames.error(Frames.KIND_EXCEPTION, 0, "the app instance was disposed");
        if (broken) return Frames.error(Frames.KIND_EXCEPTION, 0, "the app instance is broken (an earlier call ran out of time or memory)");
        // Inline only when the worker is idle: an instance runs one call at a time.
        if (INLINE && fastStreak >= streakNeeded && current == null && queue.isEmpty() && Host.canStop()) return callInline(frame);
        Job job = new Job(frame, null);
        submit(job);
        byte[] r = null;
        // Apps whose calls usually take more than half the budget go straight to the asynchronous
        // path: the event loop is never held long, the async hop (~25-60 µs) is small next to them.
        if (typicalNs < waitNs / 2) {
            long start = System.nanoTime();
            long spinEnd = start + spinNs;
            long end = start + waitNs;
            // Yield, not onSpinWait: on one CPU (a pinned server) the worker needs this thread's core.
            while ((r = job.result()) == null && System.nanoTime() < spinEnd) Thread.yield();
            if (r == null) {
                // Registered only now, so that quick answers cost the worker no unpark. Volatile
                // write then read here, CAS then read in complete(): one side always sees the other.
                job.waiter = Thread.currentThread();
                while ((r = job.result()) == null) {
                    long left = end - System.nanoTime();
                    if (left <= 0) break;
                    LockSupport.parkNanos(job, left);
                }
                job.waiter = null;
            }
        }
        if (r != null) return r;
        int ticket = Host.park(job);
        return Frames.tagged('P', ticket);
    }

    /** A call on the calling thread, watched like the worker's (see Host's watchdog and stopIfStill). */
    private byte[] callInline(byte[] frame) {
        Host.inlineCalls++; // only the Node thread writes it
        Job job = new Job(frame, null);
        Thread self = Thread.currentThread();
        ClassLoader before = self.getContextClassLoader();
        self.setContextClassLoader(loader);
        job.runner = self;
        job.startedNs = System.nanoTime();
        current = job;
        byte[] answer;
        try {
            answer = run(frame);
        } catch (Throwable t) {
            try {
                answer = classify(t);
            } catch (Throwable again) {
                broken = true;
                answer = OUT_OF_MEMORY;
            }
        } finally {
            synchronized (job) {
                current = null;
            }
            Thread.interrupted(); // the watchdog's interrupt must not reach later work on the Node thread
            self.setContextClassLoader(before);
        }
        learn(System.nanoTime() - job.startedNs, true);
        return job.complete(answer) ? answer : job.result(); // else the watchdog answered first (deadline)
    }

    private void learn(long tookNs, boolean inline) {
        typicalNs = (typicalNs * 7 + tookNs) / 8;
        if (learned < WARM_CALLS) learned++;
        if (tookNs < FAST_NS) {
            if (fastStreak < streakNeeded) fastStreak++;
        } else {
            if (inline && learned >= WARM_CALLS) streakNeeded = Math.min(streakNeeded * 2, MAX_STREAK);
            fastStreak = 0;
        }
    }

    byte[] runInline(byte[] frame) {
        try {
            return run(frame);
        } catch (Throwable t) {
            return classify(t);
        }
    }

    private void submit(Job job) {
        queue.add(job);
        LockSupport.unpark(worker);
    }

    private void work() {
        while (!disposed) {
            Job job = queue.poll();
            if (job == null) {
                // A stale interrupt (aimed at a call that ended anyway) would make park return at
                // once, forever: clear it, then re-check disposal, whose interrupt comes after its flag.
                Thread.interrupted();
                if (disposed) break;
                LockSupport.park(this); // woken by submit(), dispose's interrupt, or spuriously: look again
                continue;
            }
            Thread.interrupted(); // an interrupt aimed at an earlier call must not hit this one
            job.runner = Thread.currentThread();
            job.startedNs = System.nanoTime();
            current = job;
            byte[] answer;
            try {
                answer = job.task != null ? job.task.call() : run(job.frame);
            } catch (Throwable t) {
                try {
                    answer = classify(t);
                } catch (Throwable again) { // e.g. still out of memory while describing it
                    broken = true;
                    answer = OUT_OF_MEMORY;
                }
            }
            synchronized (job) {
                current = null;
            }
            if (job.task == null) learn(System.nanoTime() - job.startedNs, false);
            job.complete(answer);
        }
        failQueued("the app instance was disposed");
    }

    private byte[] run(byte[] frame) throws Exception {
        Object res;
        if (app instanceof Handler) {
            res = ((Handler) app).handle(Frames.decodeRequest(frame));
        } else {
            try {
                res = ((AsyncHandler) app).handle(Frames.decodeRequest(frame)).toCompletableFuture().get();
            } catch (ExecutionException | CompletionException e) {
                throw e.getCause() instanceof Exception ? (Exception) e.getCause() : e;
            }
        }
        return Frames.encodeResponse((Response) res, maxResponse);
    }

    private byte[] classify(Throwable t) {
        Throwable root = t;
        while ((root instanceof ExecutionException || root instanceof CompletionException || root instanceof InvocationTargetException) && root.getCause() != null) root = root.getCause();
        if (root instanceof OutOfMemoryError) {
            broken = true;
            return Frames.error(Frames.KIND_MEMORY, lineOf(root), "out of memory: " + root.getMessage() + " (the JVM heap is shared by every Java app; see -Xmx in ANOMALY_JVM_OPTS)");
        }
        if (root instanceof Frames.BadResponse) return Frames.error(Frames.KIND_RESPONSE, 0, root.getMessage());
        if (root instanceof LoadProblem) return Frames.error(Frames.KIND_LOAD, 0, root.getMessage());
        if (root instanceof StackOverflowError) return Frames.error(Frames.KIND_EXCEPTION, lineOf(root), "stack overflow");
        return Frames.error(Frames.KIND_EXCEPTION, lineOf(root), root.toString());
    }

    /** The line in the app's file of the innermost frame that belongs to the app. */
    private int lineOf(Throwable t) {
        for (StackTraceElement e : t.getStackTrace()) {
            if ("App.java".equals(e.getFileName()) && e.getLineNumber() > 0) return e.getLineNumber();
        }
        return 0;
    }

    // ---- deadline, disposal -----------------------------------------------------------------------

    /** Called by the watchdog: answers the call as timed out, interrupts the worker, fails what queued behind it. */
    boolean timeout(Job job) {
        if (!job.complete(Frames.error(Frames.KIND_DEADLINE, 0, "the handler ran past its deadline (" + deadlineNs / 1_000_000 + " ms)"))) return false;
        broken = true;
        job.runner.interrupt();
        failQueued("an earlier call on this instance ran past its deadline");
        return true;
    }

    private void failQueued(String why) {
        Job j;
        while ((j = queue.poll()) != null) j.complete(Frames.error(Frames.KIND_EXCEPTION, 0, why));
    }

    void dispose() {
        disposed = true;
        worker.interrupt();
        failQueued("the app instance was disposed");
    }
}
