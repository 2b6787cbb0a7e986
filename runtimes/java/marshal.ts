/**
 * The host half of the wire format (the Java half, with the layout, is in host/anomaly/host/Frames.java).
 *
 * Chosen by measurement (issue 6, bench/micro/java-call.mjs): one base64 string per request is the
 * fastest way in through java-bridge (native/jni, when built, writes the same frame into a direct
 * ByteBuffer instead, see jni.ts): java-bridge converts a JS string to a Java String through modified UTF-8 (it
 * corrupts characters outside the BMP and rejects NUL, so user text never travels as a String),
 * Buffer -> byte[] costs ~20 ns/byte, Java Maps/objects 110 µs-1 ms; a base64 string of a
 * length-prefixed frame costs ~3 µs to build here for a realistic request (12 headers, 1 KiB body)
 * and ~4 µs to pass (a short one ~1 µs). Answers come back as byte[] (a Buffer here), read in place.
 */
import { GuestError, type GuestErrorKind, type GuestRequest, type GuestResponse } from '../contract.js';
import { hasKeys } from '../marshal-util.js';

let scratch = Buffer.allocUnsafe(64 * 1024);

function field(v: string): string {
  return v.length + ':' + v;
}

function multi(map: ReadonlyMap<string, readonly string[]>): string {
  let n = 0;
  let s = '';
  for (const [name, values] of map) {
    for (const v of values) {
      s += field(name) + field(v);
      n++;
    }
  }
  return n + ':' + s;
}

function single(entries: Iterable<[string, string]>): string {
  let n = 0;
  let s = '';
  for (const [name, v] of entries) {
    s += field(name) + field(v);
    n++;
  }
  return n + ':' + s;
}

/** The raw [name, value, ...] list as pairs: lower-case names, pseudo-headers skipped (no map built). */
function rawPairs(raw: readonly string[]): string {
  let n = 0;
  let s = '';
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* : */) continue;
    s += field(name.toLowerCase()) + field(raw[i + 1]);
    n++;
  }
  return n + ':' + s;
}

const NO_PAIRS = '0:';

/** The frame's text part: the request's fields and maps (see Frames.java). */
function frameText(req: GuestRequest): string {
  return (
    field(req.method) + field(req.path) + field(req.rawQuery) + field(req.protocol) + field(req.scheme) + field(req.host) +
    field(req.remoteAddress) + (req.query.size === 0 ? NO_PAIRS : multi(req.query)) +
    (req.rawHeaders !== undefined ? rawPairs(req.rawHeaders) : multi(req.headers)) +
    (req.cookies.size === 0 ? NO_PAIRS : single(req.cookies)) + (hasKeys(req.params) ? single(Object.entries(req.params)) : NO_PAIRS)
  );
}

/** A frame of the request: its text (to write) and the most bytes it can take. */
export interface PendingFrame {
  readonly text: string;
  readonly body: Uint8Array;
  readonly maxBytes: number;
}

export function prepareFrame(req: GuestRequest): PendingFrame {
  const text = frameText(req);
  // Lone surrogates become U+FFFD (one unit for one unit), so the UTF-16 counts stay valid in Java.
  return { text, body: req.body, maxBytes: 4 + text.length * 3 + req.body.byteLength };
}

/** Writes the frame at the start of buf (at least maxBytes long); returns its length. */
export function writeFrame(frame: PendingFrame, buf: Buffer): number {
  const textBytes = buf.write(frame.text, 4, 'utf8');
  buf.writeUInt32BE(textBytes, 0);
  if (frame.body.byteLength > 0) buf.set(frame.body, 4 + textBytes);
  return 4 + textBytes + frame.body.byteLength;
}

/** The request as one base64 string (the java-bridge path). */
export function encodeRequest(req: GuestRequest): string {
  const frame = prepareFrame(req);
  if (scratch.length < frame.maxBytes) scratch = Buffer.allocUnsafe(Math.max(frame.maxBytes, scratch.length * 2));
  const b64 = scratch.toString('base64', 0, writeFrame(frame, scratch));
  // A large request's scratch is not kept (a 64 MiB upload would pin 64 MiB).
  if (scratch.length > 1024 * 1024) scratch = Buffer.allocUnsafe(64 * 1024);
  return b64;
}

const KINDS: readonly GuestErrorKind[] = ['load', 'exception', 'deadline', 'memory', 'response'];

export type Answer = { kind: 'response'; response: GuestResponse } | { kind: 'pending'; ticket: number } | { kind: 'loaded'; id: number };

/**
 * Reads an answer from Java; an 'E' answer is thrown as GuestError (file is the app's). With
 * copyBody the body is copied out (buf is reused for the next call), else it is a view of buf.
 */
export function decodeAnswer(buf: Buffer, file: string, copyBody = false): Answer {
  const tag = buf[0];
  if (tag === 0x52 /* R */) return { kind: 'response', response: readResponse(buf, copyBody) };
  if (tag === 0x50 /* P */) return { kind: 'pending', ticket: buf.readUInt32BE(1) };
  if (tag === 0x4c /* L */) return { kind: 'loaded', id: buf.readUInt32BE(1) };
  if (tag === 0x45 /* E */) {
    const kind = KINDS[buf[1]] ?? 'exception';
    const line = buf.readInt32BE(2);
    throw new GuestError(kind, buf.toString('utf8', 6), { file, line: line > 0 ? line : null });
  }
  throw new GuestError('exception', `malformed answer from the Java host (tag ${tag})`, { file });
}

function readResponse(buf: Buffer, copyBody: boolean): GuestResponse {
  const status = buf.readUInt16BE(1);
  const n = buf.readUInt16BE(3);
  let o = 5;
  const headers: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) {
    const nl = buf.readUInt16BE(o);
    const name = buf.toString('utf8', o + 2, o + 2 + nl);
    o += 2 + nl;
    const vl = buf.readUInt32BE(o);
    const value = buf.toString('utf8', o + 4, o + 4 + vl);
    o += 4 + vl;
    headers.push([name, value]);
  }
  const len = buf.readInt32BE(o);
  // A Buffer of its own (java-bridge copied the byte[]) lends the body a view, not another copy.
  const body = len < 0 ? null : copyBody ? Buffer.from(buf.subarray(o + 4, o + 4 + len)) : buf.subarray(o + 4, o + 4 + len);
  return { status, headers, body };
}
