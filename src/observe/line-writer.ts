import { write, writeSync } from 'node:fs';

/**
 * Batches log lines and writes them once 64 KiB are pending or 100 ms have passed: on the event
 * loop for files (a write to the page cache never waits for a reader, as nginx writes its logs),
 * through the thread pool for pipes, sockets and terminals, whose reader may be slow.
 * pino and the access log share one writer, so lines keep their order and never interleave.
 * Why not a write per event-loop turn: under load each turn carries only a few requests, and the
 * thread-pool round trip plus the loop wake-up per write cost ≈10 µs per request on hello-h1
 * (bench/README.md); batching by size/time makes it a fraction of a microsecond.
 * Encoding each line into a reused Buffer at once was tried and measured worse: CPU per request
 * crept up by ≈25% over a few million requests, while joining the batched strings stays flat.
 */
export class LineWriter {
  readonly #fd: number;
  readonly #maxPending: number;
  #lines: string[] = [];
  #pendingBytes = 0;
  #writing = false;
  #dropped = 0;

  readonly #batchBytes: number;
  readonly #delayMs: number;
  readonly #maxWrite: number;
  #timer: NodeJS.Timeout | null = null;

  /**
   * maxWriteChars: largest single write, cut at line ends. Worker processes share the
   * supervisor's stdout; a pipe keeps a write whole only up to PIPE_BUF (4096 bytes), so their
   * writers stay under it and lines from different processes never mix mid-line.
   */
  readonly #sync: boolean;

  /**
   * sync: write on the event loop (for regular files and /dev/null only). The thread pool's round
   * trip per batch (a string copied to a buffer, a worker thread woken, a loop wake-up to report
   * back) measured ≈1 µs per proxied request more than writing in place (bench/README.md).
   */
  constructor(fd: number, options: { batchBytes?: number; delayMs?: number; maxQueuedBytes?: number; maxWriteChars?: number; sync?: boolean } = {}) {
    this.#sync = options.sync ?? false;
    this.#fd = fd;
    this.#maxWrite = options.maxWriteChars ?? Infinity;
    this.#batchBytes = options.batchBytes ?? 64 * 1024;
    this.#delayMs = options.delayMs ?? 100;
    this.#maxPending = options.maxQueuedBytes ?? 16 * 1024 * 1024;
  }

  /** Lines dropped because the output could not keep up (bounded memory beats an OOM). */
  get dropped(): number {
    return this.#dropped;
  }

  /** pino calls this with one serialized line (ending in "\n"). */
  write(line: string): boolean {
    if (this.#pendingBytes > this.#maxPending) {
      this.#dropped++;
      return false;
    }
    this.#lines.push(line);
    this.#pendingBytes += line.length;
    if (this.#pendingBytes >= this.#batchBytes) {
      this.#flush();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(this.#flush, this.#delayMs);
      this.#timer.unref();
    }
    return true;
  }

  readonly #flush = (): void => {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    if (this.#writing || this.#lines.length === 0) return;
    const data = this.#take();
    if (this.#sync) {
      let written = 0;
      try {
        written = writeSync(this.#fd, data);
      } catch {
        return; // the log's file is gone or full: nothing to report it to
      }
      this.#afterWrite(data, null, written);
      return;
    }
    this.#writing = true;
    write(this.#fd, data, (err, written) => this.#afterWrite(data, err, written));
  };

  #afterWrite(data: string, err: Error | null, written: number): void {
    this.#writing = false;
    if (err === null && written < Buffer.byteLength(data)) {
      // Short write on a pipe: put back what is left, in front.
      const rest = Buffer.from(data).subarray(written).toString();
      this.#lines.unshift(rest);
      this.#pendingBytes += rest.length;
    }
    if (this.#pendingBytes >= this.#batchBytes || (this.#maxWrite !== Infinity && this.#pendingBytes >= this.#maxWrite)) this.#flush();
    else if (this.#lines.length > 0 && this.#timer === null) {
      this.#timer = setTimeout(this.#flush, this.#delayMs);
      this.#timer.unref();
    }
  }

  /** Writes everything still buffered, synchronously (before exit). */
  flushSync(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    try {
      while (this.#lines.length > 0) writeSync(this.#fd, this.#take());
    } catch {
      /* stdout closed: nothing left to do */
    }
  }

  /** The next write: every pending line, or as many whole lines as fit in maxWriteChars (at least one). */
  #take(): string {
    const lines = this.#lines;
    if (this.#pendingBytes <= this.#maxWrite) {
      this.#lines = [];
      this.#pendingBytes = 0;
      return lines.join('');
    }
    let n = 0;
    let size = 0;
    while (n < lines.length && (n === 0 || size + lines[n].length <= this.#maxWrite)) size += lines[n++].length;
    this.#lines = lines.slice(n);
    this.#pendingBytes -= size;
    return lines.slice(0, n).join('');
  }
}
