/**
 * ctx.newString() encodes with emscripten's JS UTF-8 loops: ≈4.5 µs for a 600-character request
 * head. Writing with TextEncoder.encodeInto straight into the WASM heap and calling QTS_NewString
 * takes ≈0.5 µs (bench/micro/quickjs-call.mjs). This reaches into quickjs-emscripten internals
 * (pinned at 0.32), so it checks they are there and falls back to newString otherwise.
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';

interface Internals {
  module: { _malloc(n: number): number; _free(p: number): void; HEAPU8: Uint8Array };
  ffi: { QTS_NewString(ctx: unknown, ptr: number): number };
  ctx: { value: unknown };
  memory: { heapValueHandle(ptr: number): QuickJSHandle };
}

export type StringMaker = (s: string) => QuickJSHandle;

export function stringMaker(ctx: QuickJSContext): StringMaker {
  const i = ctx as unknown as Partial<Internals>;
  const ok =
    typeof i.module?._malloc === 'function' &&
    typeof i.module._free === 'function' &&
    i.module.HEAPU8 instanceof Uint8Array &&
    typeof i.ffi?.QTS_NewString === 'function' &&
    i.ctx !== undefined &&
    typeof i.memory?.heapValueHandle === 'function';
  if (!ok) return (s) => ctx.newString(s);
  const { module, ffi, memory } = i as Internals;
  const ctxPtr = (i as Internals).ctx;
  const encoder = new TextEncoder();
  return (s) => {
    const max = s.length * 3 + 1;
    const ptr = module._malloc(max);
    if (ptr === 0) return ctx.newString(s);
    try {
      // HEAPU8 is re-read each time: it is replaced when the WASM memory grows.
      const heap = module.HEAPU8;
      const { written } = encoder.encodeInto(s, heap.subarray(ptr, ptr + max - 1));
      heap[ptr + written] = 0;
      return memory.heapValueHandle(ffi.QTS_NewString(ctxPtr.value, ptr));
    } finally {
      module._free(ptr);
    }
  };
}
