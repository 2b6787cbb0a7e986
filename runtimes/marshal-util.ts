/**
 * Small helpers the engine adapters' marshalling shares. Short text moves in and out of a WASM
 * engine's heap without TextEncoder/TextDecoder: for the few dozen ASCII characters of a request
 * head or a small answer, their calls (and the subarray views they need) cost more than the copy,
 * most of all on a cold cache (bench/README.md, per-language latency).
 */

// Node's Latin-1 decoder (one byte per character, no validation), applied to a WASM heap.
const latin1 = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** Copies `s` to heap[ptr...] when every character is ASCII; false (heap partly written) otherwise. */
export function writeAscii(heap: Uint8Array, ptr: number, s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return false;
    heap[ptr + i] = c;
  }
  return true;
}

/** heap[start, end) as a string, one character per byte (exact for ASCII and for Latin-1 storage). */
export function latin1Slice(heap: Uint8Array, start: number, end: number): string {
  return latin1.call(heap, start, end);
}

/** Whether heap[start, end) holds ASCII only. */
export function isAscii(heap: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (heap[i] > 0x7f) return false;
  return true;
}

/** Whether an object has an own or inherited enumerable key (without building a key list). */
export function hasKeys(o: object): boolean {
  for (const _ in o) return true;
  return false;
}
