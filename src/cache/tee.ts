import { Readable } from 'node:stream';

/**
 * Streams an origin body to the client while collecting it for the cache. `done` gets the whole
 * body, or null when it grew past `maxBytes` or the origin failed. If the client goes away first,
 * the origin is still read to the end (so the cache fills for the requests waiting on it) unless
 * the body is already known to be too big, in which case the origin stream is destroyed.
 */
export class BodyTee extends Readable {
  readonly #source: Readable;
  readonly #maxBytes: number;
  readonly #done: (body: Uint8Array | null) => void;
  #chunks: Buffer[] | null = [];
  #total = 0;
  #finished = false;
  #clientGone = false;

  constructor(source: Readable, maxBytes: number, done: (body: Uint8Array | null) => void) {
    super();
    this.#source = source;
    this.#maxBytes = maxBytes;
    this.#done = done;
    source.on('data', (chunk: Buffer | string) => this.#onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    source.once('end', () => {
      const chunks = this.#chunks;
      this.#finish(chunks === null ? null : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#total));
      if (!this.#clientGone) this.push(null);
    });
    source.once('error', (err: Error) => {
      this.#finish(null);
      if (!this.#clientGone) this.destroy(err);
    });
    source.once('close', () => {
      // Closed without 'end': the origin went away mid-body.
      if (!this.#finished) {
        this.#finish(null);
        if (!this.#clientGone) this.destroy(new Error('origin body ended early'));
      }
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#chunks !== null) {
      this.#total += chunk.length;
      if (this.#total > this.#maxBytes) {
        this.#chunks = null;
        this.#finish(null);
        if (this.#clientGone) {
          this.#source.destroy();
          return;
        }
      } else {
        this.#chunks.push(chunk);
      }
    }
    // While collecting, a slow client does not pause the origin: the bytes are held for the cache
    // anyway (up to maxBytes), and requests waiting on this fill should not wait on that client.
    if (!this.#clientGone && !this.push(chunk) && this.#chunks === null) this.#source.pause();
  }

  #finish(body: Uint8Array | null): void {
    if (this.#finished) return;
    this.#finished = true;
    if (body === null) this.#chunks = null;
    this.#done(body);
  }

  override _read(): void {
    this.#source.resume();
  }

  /** Stops sending to the client but keeps filling the cache (the client left, or got a 304). */
  abandon(): void {
    if (this.#clientGone) return;
    this.#clientGone = true;
    if (this.#finished) {
      if (this.#chunks === null) this.#source.destroy();
      return;
    }
    if (this.#chunks === null) this.#source.destroy();
    else this.#source.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // The protocol layer destroys the body when the client disconnects.
    this.abandon();
    callback(err);
  }
}
