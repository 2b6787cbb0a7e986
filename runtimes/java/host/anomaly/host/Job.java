package anomaly.host;

import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/** One call on an instance's worker: completed exactly once (by the worker, or by the watchdog at the deadline). */
final class Job {
    final byte[] frame;
    final Callable<byte[]> task;
    private final AtomicReference<byte[]> result = new AtomicReference<>();
    volatile Thread waiter;
    volatile long startedNs;
    /** The thread running the call: the instance's worker, or the Node thread for an inline call. */
    volatile Thread runner;

    Job(byte[] frame, Callable<byte[]> task) {
        this.frame = frame;
        this.task = task;
    }

    boolean complete(byte[] answer) {
        if (!result.compareAndSet(null, answer)) return false;
        Thread w = waiter;
        if (w != null) LockSupport.unpark(w);
        return true;
    }

    byte[] result() {
        return result.get();
    }

    /** Blocks until completed (the watchdog guarantees it happens by the deadline). */
    byte[] await() {
        waiter = Thread.currentThread();
        byte[] r;
        while ((r = result.get()) == null) LockSupport.park(this);
        return r;
    }
}
