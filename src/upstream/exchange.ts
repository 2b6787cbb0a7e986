import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { connectionTokens, lowerName } from '../core/field-names.js';

/** Hop-by-hop response fields (RFC 9110 §7.6.1): dropped here, never sent on to the client. */
const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

export interface UpstreamAnswer {
  readonly status: number;
  /** Lower-case names, hop-by-hop fields (and those Connection names) removed; repeats as arrays. */
  readonly headers: Record<string, string | string[]>;
  /** The whole body when it was small and of known length; otherwise a stream with backpressure. */
  readonly body: Buffer | Readable;
}

/**
 * The answer's fields for the client: lower-case names, hop-by-hop fields and those the
 * Connection field names dropped, repeats as arrays; and the Content-Length (-1 when none).
 */
export function answerHeaders(raw: readonly string[]): { headers: Record<string, string | string[]>; length: number } {
  const headers: Record<string, string | string[]> = {};
  let connection: string | undefined;
  let length = -1;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = lowerName(raw[i]);
    const value = raw[i + 1];
    if (HOP_BY_HOP.has(name)) {
      if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
      continue;
    }
    if (name === 'content-length') length = Number(value);
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else headers[name] = [prev, value];
  }
  const extraHop = connectionTokens(connection);
  if (extraHop !== null) for (const name of extraHop) if (headers[name] !== undefined) delete headers[name];
  return { headers, length };
}

/**
 * The upstream body as a stream: undici's parser pauses when push() reports a full buffer and is
 * resumed when the consumer reads; destroying the stream (client gone) aborts the upstream request.
 */
export class UpstreamBody extends Readable {
  readonly #resume: () => void;
  readonly #abort: (err: Error) => void;
  ended = false;

  constructor(resume: () => void, abort: (err: Error) => void) {
    super({ highWaterMark: 64 * 1024 });
    this.#resume = resume;
    this.#abort = abort;
  }

  override _read(): void {
    this.#resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.ended) this.#abort(err ?? new Error('response body was not read to the end'));
    callback(err);
  }
}

/**
 * One request/response with an upstream through undici's dispatch() (its native, lowest-cost
 * interface): small answers of known length (<= bufferLimit) come back as one Buffer, so the
 * client side writes head and body at once (nginx's proxy_buffering); others as a stream.
 */
class ExchangeHandler implements Dispatcher.DispatchHandler {
  readonly #resolve: (answer: UpstreamAnswer) => void;
  readonly #reject: (err: Error) => void;
  readonly #bufferLimit: number;
  #abort: ((err?: Error) => void) | null = null;
  #settled = false;
  #status = 0;
  #headers: Record<string, string | string[]> = {};
  #chunks: Buffer[] | null = null;
  #length = 0;
  #stream: UpstreamBody | null = null;

  constructor(resolve: (answer: UpstreamAnswer) => void, reject: (err: Error) => void, bufferLimit: number) {
    this.#resolve = resolve;
    this.#reject = reject;
    this.#bufferLimit = bufferLimit;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
  }

  onError(err: Error): void {
    if (!this.#settled) {
      this.#settled = true;
      this.#reject(err);
    } else if (this.#stream !== null && !this.#stream.destroyed) {
      this.#stream.ended = true; // undici already ended the request: nothing to abort
      this.#stream.destroy(err);
    }
  }

  onUpgrade(): void {
    this.onError(new Error('unexpected protocol upgrade from the upstream'));
  }

  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true; // interim answers (100, 103) are not forwarded
    this.#status = status;
    const pairs: string[] = [];
    // latin1 both ways: header bytes reach the client exactly as the upstream sent them.
    for (let i = 0; i + 1 < raw.length; i += 2) pairs.push(raw[i].toString('latin1'), raw[i + 1].toString('latin1'));
    const { headers, length } = answerHeaders(pairs);
    this.#headers = headers;
    if (length >= 0 && length <= this.#bufferLimit) {
      this.#chunks = [];
      return true;
    }
    const abort = (err: Error): void => this.#abort?.(err);
    const stream = new UpstreamBody(resume, abort);
    this.#stream = stream;
    this.#settled = true;
    this.#resolve({ status, headers, body: stream });
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#chunks !== null) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      return true;
    }
    return (this.#stream as UpstreamBody).push(chunk);
  }

  onComplete(): void {
    if (this.#chunks !== null) {
      const chunks = this.#chunks;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.#length);
      this.#settled = true;
      this.#resolve({ status: this.#status, headers: this.#headers, body });
      return;
    }
    const stream = this.#stream;
    if (stream !== null) {
      stream.ended = true;
      stream.push(null);
    }
  }
}

export function exchange(pool: Dispatcher, options: Dispatcher.DispatchOptions, bufferLimit: number): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    pool.dispatch(options, new ExchangeHandler(resolve, reject, bufferLimit));
  });
}
