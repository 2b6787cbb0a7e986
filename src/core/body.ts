import type { Readable } from 'node:stream';
import { AnomalyError, ErrorCodes, HttpError } from './errors.js';
import { QueryMap } from './query.js';

/**
 * The request body: a stream, plus helpers that buffer it under a size limit.
 * Over the limit the helpers throw HttpError(413) and stop reading; the protocol layer then
 * answers 413 and keeps the connection sane (HTTP/1.1 closes it, HTTP/2 resets only the stream).
 */
export class RequestBody {
  readonly #source: Readable | null;
  /** Declared Content-Length, or null when unknown (chunked, HTTP/2 without the header). */
  readonly length: number | null;
  /** Maximum number of bytes the buffering helpers accept; the dispatcher sets the site's limit. */
  limit: number;
  #used = false;
  #buffered: Promise<Buffer> | undefined;

  constructor(source: Readable | null, length: number | null, limit: number) {
    this.#source = source;
    this.length = length;
    this.limit = limit;
  }

  /** Whether a body may follow (false for a known empty body). */
  get present(): boolean {
    return this.#source !== null && this.length !== 0;
  }

  /** Whether some helper or stream() has started consuming the body. */
  get used(): boolean {
    return this.#used;
  }

  /** The raw body stream; can be taken once, and not after a buffering helper. */
  stream(): Readable | null {
    if (this.#used) throw new AnomalyError(ErrorCodes.BODY_CONSUMED, 'request body was already consumed');
    this.#used = true;
    return this.#source;
  }

  /** The whole body as bytes (a Buffer is a Uint8Array); cached, so it may be called again. */
  bytes(): Promise<Buffer> {
    if (this.#buffered !== undefined) return this.#buffered;
    if (this.#used) return Promise.reject(new AnomalyError(ErrorCodes.BODY_CONSUMED, 'request body was already consumed as a stream'));
    this.#used = true;
    this.#buffered = readAll(this.#source, this.length, this.limit);
    return this.#buffered;
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async json<T = unknown>(): Promise<T> {
    const text = await this.text();
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new HttpError(400, `invalid JSON body: ${(err as Error).message}`);
    }
  }

  /** An application/x-www-form-urlencoded body as a multi-map. */
  async form(): Promise<QueryMap> {
    return new QueryMap((await this.bytes()).toString('latin1'));
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `request body larger than ${limit} bytes`);
}

function readAll(source: Readable | null, length: number | null, limit: number): Promise<Buffer> {
  if (source === null || length === 0) return Promise.resolve(Buffer.alloc(0));
  if (length !== null && length > limit) return Promise.reject(tooLarge(limit));
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onError);
      source.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        source.pause();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, total));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(new HttpError(400, `request body could not be read: ${err.message}`, { cause: err }));
    };
    const onClose = (): void => {
      cleanup();
      reject(new HttpError(400, 'request body ended early'));
    };
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onError);
    source.once('close', onClose);
  });
}
