/**
 * HTTP/1.1 response parser for the upstream client, sans I/O: bytes in, events out. Strict where
 * a lenient reading would let an upstream smuggle a second answer into a connection we reuse:
 * Content-Length and Transfer-Encoding together, differing lengths, malformed chunk sizes and
 * field lines are errors, and the connection is not reused after one.
 */
import { fieldSpan, lowerName, scanField } from '../core/field-names.js';

export interface ResponseEvents {
  /** The final (non-1xx) head: status and [name, value, ...] as received (latin1). */
  head(status: number, raw: string[]): void;
  /** Body bytes: a view of the chunk given to feed(), valid only during the call (copy what you keep). */
  data(chunk: Buffer): void;
  /** The answer is complete; `reusable`: the connection may carry another request. */
  end(reusable: boolean): void;
  error(err: Error): void;
}

export class UpstreamProtocolError extends Error {
  readonly code: string;
  constructor(message: string, code = 'UND_ERR_SOCKET') {
    super(message);
    this.code = code;
  }
}

const enum State {
  Idle,
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailers,
  UntilClose,
  Failed,
}

const MAX_HEAD = 64 * 1024;
const MAX_LINE = 4096;
const STATUS_LINE = /HTTP\/1\.([01]) ([1-9][0-9]{2})(?: [^\r\n]*)?(?:\r\n|$)/y;
const FIELD_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*?)[\t ]*$/;
const DIGITS = /^[0-9]{1,15}$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]{1,12})[\t ]*(?:;[^\r\n]*)?$/;

const CRLF = Buffer.from('\r\n');
const BLANK = Buffer.from('\r\n\r\n');

export class ResponseParser {
  readonly #events: ResponseEvents;
  #state = State.Idle;
  /** Bytes of an unfinished head or line. */
  #partial: Buffer | null = null;
  #remaining = 0;
  #reusable = true;
  #noBody = false;

  constructor(events: ResponseEvents) {
    this.#events = events;
  }

  /** Expect the answer to a new request; `noBody` for HEAD (the answer's framing fields then describe nothing). */
  start(noBody: boolean): void {
    this.#state = State.Head;
    this.#noBody = noBody;
    this.#reusable = true;
    this.#partial = null;
  }

  /** Whether some bytes of the current answer have arrived. */
  get started(): boolean {
    return this.#state !== State.Head || this.#partial !== null;
  }

  /** Parses `chunk`; nothing is kept of it after the call (it may be a reused read buffer). */
  feed(chunk: Buffer): void {
    // A head or line cut by the previous chunk continues here (#find kept its start).
    let buf = chunk;
    if (this.#partial !== null) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = null;
    }
    let pos = 0;
    while (pos < buf.length) {
      switch (this.#state) {
        case State.Idle:
          this.#fail('the upstream sent bytes nobody asked for');
          return;
        case State.Failed:
          return;
        case State.Head: {
          const end = this.#find(buf, pos, BLANK, MAX_HEAD, 'answer head too large', 'UND_ERR_HEADERS_OVERFLOW');
          if (end === -1) return;
          const text = buf.toString('latin1', pos, end);
          pos = end + 4;
          if (!this.#head(text)) return;
          break;
        }
        case State.Length: {
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#events.data(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case State.UntilClose:
          this.#events.data(pos === 0 ? buf : buf.subarray(pos));
          return;
        case State.ChunkData: {
          const n = Math.min(this.#remaining, buf.length - pos);
          this.#events.data(buf.subarray(pos, pos + n));
          pos += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkSize:
        case State.ChunkEnd:
        case State.Trailers: {
          const eol = this.#find(buf, pos, CRLF, MAX_LINE, 'chunk framing line too long');
          if (eol === -1) return;
          const line = buf.toString('latin1', pos, eol);
          pos = eol + 2;
          if (!this.#line(line)) return;
          break;
        }
      }
    }
  }

  /**
   * Where `sep` starts in buf (from pos), or -1: either it has not arrived yet (the bytes from pos are
   * kept for the next feed) or more than `max` bytes came without it (the answer failed).
   */
  #find(buf: Buffer, pos: number, sep: Buffer, max: number, tooLong: string, code?: string): number {
    const at = buf.indexOf(sep, pos);
    if (at !== -1 && at - pos <= max) return at;
    if (at !== -1 || buf.length - pos > max) {
      this.#fail(tooLong, code);
      return -1;
    }
    // A copy: feed()'s chunk may be a read buffer the socket reuses.
    this.#partial = Buffer.from(buf.subarray(pos));
    return -1;
  }

  /** The connection closed: the end of a close-delimited answer, an error for any other. */
  eof(): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Idle;
      this.#events.end(false);
    } else if (this.#state !== State.Idle && this.#state !== State.Failed) {
      this.#fail('the upstream closed the connection before the answer ended');
    }
  }

  /** `text`: the head without its final blank line. */
  #head(text: string): boolean {
    STATUS_LINE.lastIndex = 0;
    const status = STATUS_LINE.exec(text);
    if (status === null) return this.#fail('malformed status line from the upstream');
    const code = Number(status[2]);
    const raw: string[] = [];
    let length = -1;
    let chunked = false;
    let encoded = false;
    let close = status[1] === '0';
    let pos = STATUS_LINE.lastIndex;
    while (pos < text.length) {
      let eol = text.indexOf('\r\n', pos);
      if (eol === -1) eol = text.length;
      if (!scanField(text, pos, eol)) return this.#fail('malformed header field from the upstream');
      const name = text.slice(pos, fieldSpan.colon);
      const value = text.slice(fieldSpan.from, fieldSpan.to);
      pos = eol + 2;
      switch (name.length) {
        case 10:
          if (lowerName(name) === 'connection' && /(?:^|,)\s*close\s*(?:,|$)/i.test(value)) close = true;
          break;
        case 14:
          if (lowerName(name) === 'content-length') {
            if (!DIGITS.test(value) || (length !== -1 && length !== Number(value))) return this.#fail('invalid Content-Length from the upstream');
            length = Number(value);
          }
          break;
        case 17:
          if (lowerName(name) === 'transfer-encoding') {
            encoded = true;
            chunked = value.slice(value.lastIndexOf(',') + 1).trim().toLowerCase() === 'chunked';
          }
          break;
      }
      raw.push(name, value);
    }
    if (code < 200) {
      if (code === 101) return this.#fail('unexpected protocol switch from the upstream');
      return true; // interim answer (100, 103): the final one follows
    }
    if (encoded && length !== -1) return this.#fail('Content-Length and Transfer-Encoding together from the upstream');
    this.#reusable = !close;
    this.#events.head(code, raw);
    if (this.#state === State.Failed) return false;
    if (this.#noBody || code === 204 || code === 304) this.#finish();
    else if (encoded) {
      if (chunked) this.#state = State.ChunkSize;
      else this.#untilClose();
    } else if (length === 0) this.#finish();
    else if (length > 0) {
      this.#state = State.Length;
      this.#remaining = length;
    } else this.#untilClose();
    return true;
  }

  #line(line: string): boolean {
    switch (this.#state) {
      case State.ChunkSize: {
        const m = CHUNK_SIZE.exec(line);
        if (m === null) return this.#fail('malformed chunk size from the upstream');
        const size = parseInt(m[1], 16);
        if (size === 0) this.#state = State.Trailers;
        else {
          this.#state = State.ChunkData;
          this.#remaining = size;
        }
        return true;
      }
      case State.ChunkEnd:
        if (line !== '') return this.#fail('chunk data longer than its size from the upstream');
        this.#state = State.ChunkSize;
        return true;
      default: // trailers: read and dropped, up to the blank line
        if (line === '') this.#finish();
        else if (!FIELD_LINE.test(line)) return this.#fail('malformed trailer field from the upstream');
        return true;
    }
  }

  #untilClose(): void {
    this.#state = State.UntilClose;
    this.#reusable = false;
  }

  #finish(): void {
    this.#state = State.Idle;
    this.#events.end(this.#reusable);
  }

  #fail(message: string, code?: string): false {
    this.#state = State.Failed;
    this.#partial = null;
    this.#events.error(new UpstreamProtocolError(message, code));
    return false;
  }
}
