/** Range header parsing (RFC 9110 §14) and multipart/byteranges bodies. */

export interface ByteRange {
  /** First byte, inclusive. */
  readonly start: number;
  /** Last byte, exclusive. */
  readonly end: number;
}

/**
 * - `null`: ignore the header and serve the whole representation (bad syntax, other unit, or too many ranges)
 * - `'unsatisfiable'`: answer 416
 * - otherwise the ranges to send, overlapping/adjacent ones coalesced.
 */
export type RangeResult = null | 'unsatisfiable' | ByteRange[];

/** More ranges than this in one request is treated as abuse: the Range header is ignored (200, full body). */
export const MAX_RANGES = 16;

export function parseRange(header: string, size: number): RangeResult {
  const eq = header.indexOf('=');
  if (eq === -1 || header.slice(0, eq).trim().toLowerCase() !== 'bytes') return null;
  const specs = header.slice(eq + 1).split(',');
  const ranges: ByteRange[] = [];
  let count = 0;
  for (const rawSpec of specs) {
    const spec = rawSpec.trim();
    if (spec.length === 0) continue; // RFC 9110 list syntax allows empty elements
    if (++count > MAX_RANGES) return null;
    const dash = spec.indexOf('-');
    if (dash === -1) return null;
    const first = spec.slice(0, dash).trim();
    const last = spec.slice(dash + 1).trim();
    if (first.length === 0) {
      // suffix range: the last N bytes
      if (!isDigits(last)) return null;
      const n = Number(last);
      if (n === 0 || size === 0) continue; // unsatisfiable on its own
      ranges.push({ start: Math.max(0, size - n), end: size });
      continue;
    }
    if (!isDigits(first) || (last.length > 0 && !isDigits(last))) return null;
    const start = Number(first);
    const lastByte = last.length === 0 ? Infinity : Number(last);
    if (lastByte < start) return null; // invalid range-spec: the whole header is ignored
    if (start >= size) continue; // unsatisfiable on its own
    ranges.push({ start, end: Math.min(lastByte + 1, size) });
  }
  if (count === 0) return null;
  if (ranges.length === 0) return 'unsatisfiable';
  return coalesce(ranges);
}

function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false; // beyond 2^53 is nonsense for a file offset
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Ranges that overlap or touch are merged (sorted); otherwise the client's order is kept.
 * This defeats "many overlapping ranges" amplification while answering sane requests as asked.
 */
export function coalesce(ranges: ByteRange[]): ByteRange[] {
  if (ranges.length < 2) return ranges;
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  let overlap = false;
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].start <= sorted[i - 1].end) {
      overlap = true;
      break;
    }
  }
  if (!overlap) return ranges;
  const merged: ByteRange[] = [{ ...sorted[0] }];
  for (let i = 1; i < sorted.length; i++) {
    const prev = merged[merged.length - 1];
    const cur = sorted[i];
    if (cur.start <= prev.end) merged[merged.length - 1] = { start: prev.start, end: Math.max(prev.end, cur.end) };
    else merged.push({ ...cur });
  }
  return merged;
}

export function contentRange(r: ByteRange, size: number): string {
  return `bytes ${r.start}-${r.end - 1}/${size}`;
}

/** The part header preceding each range's bytes in a multipart/byteranges body. */
export function partHeader(boundary: string, contentType: string, r: ByteRange, size: number, first: boolean): string {
  return `${first ? '' : '\r\n'}--${boundary}\r\ncontent-type: ${contentType}\r\ncontent-range: ${contentRange(r, size)}\r\n\r\n`;
}

export function closingDelimiter(boundary: string): string {
  return `\r\n--${boundary}--\r\n`;
}

/** The whole multipart body for bytes held in memory. */
export function multipartBytes(bytes: Uint8Array, ranges: readonly ByteRange[], boundary: string, contentType: string): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i];
    chunks.push(Buffer.from(partHeader(boundary, contentType, r, bytes.byteLength, i === 0), 'latin1'));
    chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset + r.start, r.end - r.start));
  }
  chunks.push(Buffer.from(closingDelimiter(boundary), 'latin1'));
  return Buffer.concat(chunks);
}

/** Exact byte length of a multipart body, so content-length can be sent for file-backed ones. */
export function multipartLength(ranges: readonly ByteRange[], size: number, boundary: string, contentType: string): number {
  let total = Buffer.byteLength(closingDelimiter(boundary));
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i];
    total += Buffer.byteLength(partHeader(boundary, contentType, r, size, i === 0)) + (r.end - r.start);
  }
  return total;
}
