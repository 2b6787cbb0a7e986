import { write, writeSync } from 'node:fs';

const CHUNK = 64 * 1024;

/**
 * Batches log lines and writes them asynchronously once 64 KiB are pending or 100 ms have passed.
 * pino and the access log share one writer, so lines keep their order and never interleave.
 *
 * Why it looks like this (bench/micro/log-line.mjs, bench/README.md):
 * - one write per event-loop turn cost ≈10 µs per request on hello-h1 (a thread-pool round trip
 *   and a loop wake-up every few requests); batching by size/time makes that negligible;
 * - keeping the line strings until the flush promoted them to the old generation (≈100 ms of
 *   lines) and made GC dearer; each line is encoded into a reused 64 KiB buffer at once instead,
 *   so the string dies young.
 */
export class LineWriter {
  readonly #fd: number;
  readonly #delayMs: number;
  readonly #maxQueued: number;
  #buf: Buffer = Buffer.allocUnsafe(CHUNK);
  #used = 0;
  readonly #queue: Buffer[] = [];
  readonly #spare: Buffer[] = [];
  #writing = false;
  #timer: NodeJS.Timeout | null = null;
  #dropped = 0;

  constructor(fd: number, options: { delayMs?: number; maxQueuedBytes?: number } = {}) {
    this.#fd = fd;
    this.#delayMs = options.delayMs ?? 100;
    this.#maxQueued = Math.max(1, Math.floor((options.maxQueuedBytes ?? 16 * 1024 * 1024) / CHUNK));
  }

  /** Lines dropped because the output could not keep up (bounded memory beats an OOM). */
  get dropped(): number {
    return this.#dropped;
  }

  /** pino calls this with one serialized line (ending in "\n"). */
  write(line: string): boolean {
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const worst = line.length * 3;
    if (this.#used + worst > CHUNK) {
      this.#rotate();
      if (worst > CHUNK) return this.#enqueue(Buffer.from(line));
    }
    if (this.#queue.length >= this.#maxQueued) {
      this.#dropped++;
      return false;
    }
    this.#used += this.#buf.write(line, this.#used);
    if (this.#timer === null) {
      this.#timer = setTimeout(this.#onTimer, this.#delayMs);
      this.#timer.unref();
    }
    return true;
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    this.#rotate();
  };

  /** Queues the filled part of the current buffer and starts writing if idle. */
  #rotate(): void {
    if (this.#used === 0) return;
    const filled = this.#buf.subarray(0, this.#used);
    this.#buf = this.#spare.pop() ?? Buffer.allocUnsafe(CHUNK);
    this.#used = 0;
    this.#enqueue(filled);
  }

  #enqueue(chunk: Buffer): boolean {
    if (this.#queue.length >= this.#maxQueued) {
      this.#dropped++;
      return false;
    }
    this.#queue.push(chunk);
    if (!this.#writing) this.#writeNext();
    return true;
  }

  #writeNext(): void {
    const chunk = this.#queue[0];
    if (chunk === undefined) return;
    this.#writing = true;
    write(this.#fd, chunk, 0, chunk.length, null, (err, written) => {
      this.#writing = false;
      if (err === null && written < chunk.length) {
        this.#queue[0] = chunk.subarray(written); // short write on a pipe: the rest goes next
      } else {
        this.#queue.shift();
        if (chunk.byteOffset === 0 && chunk.buffer.byteLength === CHUNK && this.#spare.length < 4) {
          this.#spare.push(Buffer.from(chunk.buffer, 0, CHUNK));
        }
      }
      if (err !== null && err.code !== 'EAGAIN') {
        this.#queue.length = 0; // the output is gone (closed pipe): stop trying
        return;
      }
      this.#writeNext();
    });
  }

  /** Writes everything still buffered, synchronously (before exit). */
  flushSync(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    const pending = this.#writing ? this.#queue.slice(1) : this.#queue.splice(0);
    if (this.#writing) this.#queue.length = 1;
    if (this.#used > 0) pending.push(this.#buf.subarray(0, this.#used));
    this.#used = 0;
    for (const chunk of pending) {
      try {
        writeSync(this.#fd, chunk);
      } catch {
        return; // stdout closed: nothing left to do
      }
    }
  }
}
