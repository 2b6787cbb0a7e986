/**
 * A strict parser for the common HTTP/1.1 request head: request line in origin-form, token-named
 * fields, one Host, no Transfer-Encoding, Upgrade or Expect, a plain Content-Length at most.
 * Whatever it does not recognise it calls 'other' and leaves to node:http, whose parser (plus
 * head-rules.ts) answers every odd and hostile case: this one never has to refuse anything.
 */
import { fieldSpan, lowerName, scanField } from '../../core/field-names.js';
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
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);
const VERSION = ' HTTP/1.1\r\n';
/** Origin-form target characters: visible ASCII except "#" (no fragment on the wire). */
const isTargetChar = (c: number): boolean => c >= 0x21 && c <= 0x7e && c !== 0x23;

/** "METHOD /target HTTP/1.1" CRLF at the start of buf, or null for anything else. */
function requestLine(buf: string): { method: string; target: string; end: number } | null {
  const sp = buf.indexOf(' ');
  if (sp < 3 || sp > 7) return null;
  const method = buf.slice(0, sp);
  if (!METHODS.has(method) || buf.charCodeAt(sp + 1) !== 47 /* / */) return null;
  let i = sp + 2;
  while (i < buf.length && isTargetChar(buf.charCodeAt(i))) i++;
  if (!buf.startsWith(VERSION, i)) return null;
  return { method, target: buf.slice(sp + 1, i), end: i + VERSION.length };
}
const DIGITS = /^[0-9]{1,15}$/;

/** Parses the head at the start of `buf` (a latin1 string): 'incomplete' without its blank line yet. */
export function parseSimpleHead(buf: string, limits: HeadLimits): SimpleHead | 'incomplete' | 'other' {
  const blank = buf.indexOf('\r\n\r\n');
  if (blank === -1) return 'incomplete';
  const end = blank + 4;
  const line = requestLine(buf);
  if (line === null) return 'other';
  const target = line.target;
  if (target.length > limits.maxUri) return 'other';
  const raw: string[] = [];
  let host = '';
  let hosts = 0;
  let length = 0;
  let lengths = 0;
  let close = false;
  let fieldBytes = 0;
  let pos = line.end;
  while (pos < end - 2) {
    const eol = buf.indexOf('\r\n', pos);
    if (!scanField(buf, pos, eol)) return 'other';
    const name = buf.slice(pos, fieldSpan.colon);
    const value = buf.slice(fieldSpan.from, fieldSpan.to);
    fieldBytes += name.length + value.length + 4;
    switch (name.length) {
      case 4:
        if (lowerName(name) === 'host' && hosts++ === 0) host = value;
        break;
      case 6:
        if (lowerName(name) === 'expect') return 'other';
        break;
      case 7:
        if (lowerName(name) === 'upgrade') return 'other';
        break;
      case 10:
        if (lowerName(name) === 'connection') {
          const v = value.toLowerCase();
          if (v === 'close') close = true;
          else if (v !== 'keep-alive') return 'other';
        }
        break;
      case 14:
        if (lowerName(name) === 'content-length') {
          if (lengths++ > 0 || !DIGITS.test(value)) return 'other';
          length = Number(value);
        }
        break;
      case 17:
        if (lowerName(name) === 'transfer-encoding') return 'other';
        break;
    }
    raw.push(name, value);
    pos = eol + 2;
  }
  if (pos !== end - 2) return 'other';
  if (hosts !== 1 || !VALID_HOST.test(host)) return 'other';
  if (raw.length / 2 > limits.maxHeaders || fieldBytes > limits.maxHeaderSize) return 'other';
  return { method: line.method, target, raw, host, length, close, end };
}
