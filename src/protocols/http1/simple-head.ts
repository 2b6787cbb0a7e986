/**
 * A strict parser for the common HTTP/1.1 request head: request line in origin-form, token-named
 * fields, one Host, no Transfer-Encoding, Upgrade or Expect, a plain Content-Length at most.
 * Whatever it does not recognise it calls 'other' and leaves to node:http, whose parser (plus
 * head-rules.ts) answers every odd and hostile case: this one never has to refuse anything.
 */
import { VALID_HOST } from './head-rules.js';

export interface SimpleHead {
  readonly method: string;
  readonly target: string;
  /** [name, value, ...] as received (original case, values without surrounding whitespace). */
  readonly raw: string[];
  readonly host: string;
  /** Content-Length, 0 when absent. */
  readonly length: number;
  /** The client asked to close after this request ("connection: close"). */
  readonly close: boolean;
  /** Index just past the head's final CRLF CRLF. */
  readonly end: number;
}

export interface HeadLimits {
  readonly maxUri: number;
  readonly maxHeaders: number;
  readonly maxHeaderSize: number;
}

// Methods llhttp accepts that can carry at most a Content-Length body; CONNECT and the rest go to node.
const REQUEST_LINE = /(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH) (\/[\x21\x22\x24-\x7e]*) HTTP\/1\.1\r\n/y;
// name ":" OWS value CRLF; the value may not hold CR, LF, NUL or other controls (HTAB aside).
const FIELD_LINE = /([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t ]*([\t\x20-\x7e\x80-\xff]*)\r\n/y;
const DIGITS = /^[0-9]{1,15}$/;

/** Parses the head at the start of `buf` (a latin1 string): 'incomplete' without its blank line yet. */
export function parseSimpleHead(buf: string, limits: HeadLimits): SimpleHead | 'incomplete' | 'other' {
  const blank = buf.indexOf('\r\n\r\n');
  if (blank === -1) return 'incomplete';
  const end = blank + 4;
  REQUEST_LINE.lastIndex = 0;
  const line = REQUEST_LINE.exec(buf);
  if (line === null) return 'other';
  const target = line[2];
  if (target.length > limits.maxUri) return 'other';
  const raw: string[] = [];
  let host = '';
  let hosts = 0;
  let length = 0;
  let lengths = 0;
  let close = false;
  let fieldBytes = 0;
  let pos = REQUEST_LINE.lastIndex;
  while (pos < end - 2) {
    FIELD_LINE.lastIndex = pos;
    const field = FIELD_LINE.exec(buf);
    if (field === null) return 'other';
    const name = field[1];
    let value = field[2];
    const last = value.charCodeAt(value.length - 1);
    if (last === 32 || last === 9) value = value.trimEnd();
    fieldBytes += name.length + value.length + 4;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host' && hosts++ === 0) host = value;
        break;
      case 6:
        if (name.toLowerCase() === 'expect') return 'other';
        break;
      case 7:
        if (name.toLowerCase() === 'upgrade') return 'other';
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          const v = value.toLowerCase();
          if (v === 'close') close = true;
          else if (v !== 'keep-alive') return 'other';
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          if (lengths++ > 0 || !DIGITS.test(value)) return 'other';
          length = Number(value);
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return 'other';
        break;
    }
    raw.push(name, value);
    pos = FIELD_LINE.lastIndex;
  }
  if (pos !== end - 2) return 'other';
  if (hosts !== 1 || !VALID_HOST.test(host)) return 'other';
  if (raw.length / 2 > limits.maxHeaders || fieldBytes > limits.maxHeaderSize) return 'other';
  return { method: line[1], target, raw, host, length, close, end };
}
