/**
 * The HTTP/1.1 status line and header block of a response, as the fast lane writes it. Same
 * fields as node:http would send for the same Response (date, connection, keep-alive), and the
 * same refusal of names that are not tokens and values with CR, LF or other controls (a handler's
 * header must never split a response).
 */
import { STATUS_CODES } from 'node:http';
import type { ResponseHeaders } from '../../core/response.js';
import { extraValue, type ExtraHeaders } from '../headers-out.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const NOT_ASCII_TEXT = /[^\t\x20-\x7e]/;

/** Framing the caller chose: a length, chunked, or neither (HEAD, 204, 304). */
export type Framing = { length: number } | 'chunked' | 'none';

export interface HeadOptions {
  readonly status: number;
  readonly headers: ResponseHeaders;
  readonly extra: ExtraHeaders;
  readonly host: string;
  readonly framing: Framing;
  /** Trailer field names announced for a chunked body, or null. */
  readonly trailers: string | null;
  /** Whether the connection stays open (see headKeepsAlive). */
  readonly keepAlive: boolean;
  /** Seconds announced in keep-alive: timeout=N. */
  readonly idleSeconds: number;
}

export class InvalidHeaderError extends Error {}

/** The head, and whether it is all ASCII (then it can share one UTF-8 write with a text body). */
export interface ResponseHead {
  readonly text: string;
  readonly ascii: boolean;
}

/** Whether a field value is plain ASCII; throws for one that could split the response. One test in the usual case. */
function asciiValue(name: string, value: string): boolean {
  if (!NOT_ASCII_TEXT.test(value)) return true;
  if (BAD_VALUE.test(value)) throw new InvalidHeaderError(`invalid value for response header "${name}"`);
  return false; // obs-text (0x80-0xff): valid, sent as latin1 bytes
}

/** Names already found valid: most answers carry the same few, so the regex runs once per name. */
const validNames = new Set<string>();

function isTokenName(name: string): boolean {
  if (validNames.has(name)) return true;
  if (!TOKEN.test(name)) return false;
  if (validNames.size < 1024) validNames.add(name);
  return true;
}

/** "content-length: N" lines of small bodies, made on first use (most answers are small). */
const lengthFields: string[] = [];

function contentLengthField(length: number): string {
  if (length >= 4096) return `content-length: ${length}\r\n`;
  return (lengthFields[length] ??= `content-length: ${length}\r\n`);
}

let dateValue = '';
let dateExpires = 0;

/** The Date field line, formatted once per second as node:http does. */
function dateField(): string {
  const now = Date.now();
  if (now >= dateExpires) {
    dateValue = `date: ${new Date(now).toUTCString()}\r\n`;
    dateExpires = now - (now % 1000) + 1000;
  }
  return dateValue;
}

const statusLines = new Map<number, string>();

/** "HTTP/1.1 200 OK\r\n", made once per status code. */
function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = 'HTTP/1.1 ' + status + ' ' + (STATUS_CODES[status] ?? 'unknown') + '\r\n';
    if (statusLines.size < 1000) statusLines.set(status, line);
  }
  return line;
}

let keepAliveSeconds = -1;
let keepAliveText = '';

/** Connection and Keep-Alive fields for an open connection (the idle time rarely changes). */
function keepAliveFields(seconds: number): string {
  if (seconds !== keepAliveSeconds) {
    keepAliveSeconds = seconds;
    keepAliveText = seconds > 0 ? 'connection: keep-alive\r\nkeep-alive: timeout=' + seconds + '\r\n' : 'connection: keep-alive\r\n';
  }
  return keepAliveText;
}

/** The head as a latin1 string ending in the blank line; throws InvalidHeaderError for a bad field. */
export function responseHead(o: HeadOptions): ResponseHead {
  let head = statusLine(o.status);
  const headers = o.headers;
  let connectionSet = false;
  let ascii = true;
  for (const name in headers) {
    const value = headers[name];
    if (!isTokenName(name)) throw new InvalidHeaderError(`invalid response header name "${name}"`);
    // Framing is ours to choose (and content-length is written below when we know it).
    if (name === 'transfer-encoding' || (name === 'content-length' && typeof o.framing === 'object')) continue;
    if (name === 'connection') connectionSet = true;
    if (typeof value === 'string') {
      if (!asciiValue(name, value)) ascii = false;
      head += `${name}: ${value}\r\n`;
    } else {
      for (let i = 0; i < value.length; i++) {
        if (!asciiValue(name, value[i])) ascii = false;
        head += `${name}: ${value[i]}\r\n`;
      }
    }
  }
  const extra = o.extra;
  for (let i = 0; i < extra.length; i++) {
    const value = extraValue(extra[i][1], o.host);
    if (value !== null) head += `${extra[i][0]}: ${value}\r\n`;
  }
  const framing = o.framing;
  if (typeof framing === 'object') head += contentLengthField(framing.length);
  else if (framing === 'chunked') {
    head += 'transfer-encoding: chunked\r\n';
    if (o.trailers !== null) head += 'trailer: ' + o.trailers + '\r\n';
  }
  if (headers.date === undefined) head += dateField();
  if (!connectionSet) {
    // Like node:http: the idle time in whole seconds, rounded down so a client never counts on more.
    if (!o.keepAlive) head += 'connection: close\r\n';
    else head += keepAliveFields(o.idleSeconds);
  }
  // Extra fields (alt-svc), the date and the status text are ASCII: only handler values can be obs-text.
  return { text: head + '\r\n', ascii };
}

/** Whether the connection stays open after this response: the server's choice, unless the handler said close. */
export function headKeepsAlive(headers: ResponseHeaders, keepAlive: boolean): boolean {
  const c = headers.connection;
  return keepAlive && !(typeof c === 'string' && c.toLowerCase().includes('close'));
}

/** The trailer block of a chunked body: last chunk, fields, blank line. */
export function chunkedEnd(trailers: ResponseHeaders | null): string {
  let out = '0\r\n';
  if (trailers !== null) {
    for (const name in trailers) {
      const value = trailers[name];
      if (!TOKEN.test(name)) continue;
      for (const v of typeof value === 'string' ? [value] : value) if (!BAD_VALUE.test(v)) out += name + ': ' + v + '\r\n';
    }
  }
  return out + '\r\n';
}
