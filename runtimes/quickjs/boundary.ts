/**
 * How one request crosses into QuickJS and its answer comes back: dispatch(meta, body?) → string.
 *
 * The public handle API allocates a Lifetime object per value, a pointer array per call and a
 * result wrapper per call, and encodes strings with emscripten's JS UTF-8 loops: ≈4 µs of a 6 µs
 * round trip for a trivial handler (bench/micro/quickjs-call.mjs). The direct boundary drives the
 * same FFI functions on raw pointers instead: one argv buffer for the life of the instance,
 * strings written with TextEncoder.encodeInto straight into the WASM heap. It reaches into
 * quickjs-emscripten internals (pinned to 0.32), so it checks they are there and falls back to the
 * handle API otherwise. Both give identical results; the contract suite runs on the one in use.
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten';
import { latin1Slice, writeAscii } from '../marshal-util.js';

/** The guest raised: its exception value, as a handle the caller dumps and disposes. */
export class BoundaryThrow {
  constructor(readonly error: QuickJSHandle) {}
}

export interface Boundary {
  readonly direct: boolean;
  /** Whether string answers are read from the guest's memory without the FFI (direct boundary only). */
  readonly rawStrings?: boolean;
  /** Calls fn(meta, body?) and returns the string it returned; throws BoundaryThrow if the guest threw. */
  callString(fn: QuickJSHandle, meta: string, body: Uint8Array | null): string;
  /** Calls fn() and returns the string it returned; throws BoundaryThrow if the guest threw. */
  callString0(fn: QuickJSHandle): string;
  /** Frees what the boundary holds; before the context is disposed. */
  dispose(): void;
}

interface Internals {
  module: { _malloc(n: number): number; _free(p: number): void; HEAPU8: Uint8Array; UTF8ToString(p: number): string };
  ffi: {
    QTS_NewString(ctx: number, ptr: number): number;
    QTS_NewArrayBuffer(ctx: number, ptr: number, length: number): number;
    QTS_Call(ctx: number, fn: number, self: number, argc: number, argv: number): number;
    QTS_ResolveException(ctx: number, maybe: number): number;
    QTS_GetString(ctx: number, value: number): number;
    QTS_FreeCString(ctx: number, ptr: number): void;
    QTS_FreeValuePointer(ctx: number, value: number): void;
  };
  ctx: { value: number };
  memory: { heapValueHandle(ptr: number): QuickJSHandle };
}

const FFI_NAMES = ['QTS_NewString', 'QTS_NewArrayBuffer', 'QTS_Call', 'QTS_ResolveException', 'QTS_GetString', 'QTS_FreeCString', 'QTS_FreeValuePointer'] as const;

function internalsOf(ctx: QuickJSContext): Internals | null {
  const i = ctx as unknown as Partial<Internals>;
  const m = i.module;
  if (m === undefined || typeof m._malloc !== 'function' || typeof m._free !== 'function' || !(m.HEAPU8 instanceof Uint8Array)) return null;
  if (typeof m.UTF8ToString !== 'function' || typeof i.ctx?.value !== 'number' || typeof i.memory?.heapValueHandle !== 'function') return null;
  const ffi = i.ffi as Record<string, unknown> | undefined;
  if (ffi === undefined || FFI_NAMES.some((n) => typeof ffi[n] !== 'function')) return null;
  return i as Internals;
}

export function boundaryFor(ctx: QuickJSContext): Boundary {
  const internals = internalsOf(ctx);
  return internals === null ? new HandleBoundary(ctx) : new DirectBoundary(ctx, internals);
}

/** The public API: always available, slower. */
export class HandleBoundary implements Boundary {
  readonly direct = false;
  constructor(private readonly ctx: QuickJSContext) {}

  callString(fn: QuickJSHandle, meta: string, body: Uint8Array | null): string {
    const { ctx } = this;
    const m = ctx.newString(meta);
    // newArrayBuffer copies from `new Uint8Array(arg)`, so a view (e.g. a pooled Buffer) is copied exactly.
    const b = body === null ? null : ctx.newArrayBuffer(body as unknown as ArrayBuffer);
    try {
      return this.take(ctx.callFunction(fn, ctx.undefined, m, b ?? ctx.undefined));
    } finally {
      m.dispose();
      b?.dispose();
    }
  }

  callString0(fn: QuickJSHandle): string {
    return this.take(this.ctx.callFunction(fn, this.ctx.undefined));
  }

  dispose(): void {}

  private take(result: { value?: QuickJSHandle; error?: QuickJSHandle }): string {
    if (result.error !== undefined) throw new BoundaryThrow(result.error);
    const h = result.value as QuickJSHandle;
    try {
      return this.ctx.getString(h);
    } finally {
      h.dispose();
    }
  }
}

const SCRATCH_MIN = 4096;
const JS_TAG_STRING = -7;
const JSSTRING_HEADER = 16;
/** Heads up to this many characters take newString's copy loop when they are ASCII. */
const ASCII_COPY_MAX = 512;

/** Raw pointers through the FFI; every value it creates is freed, at the latest in the batch after the answer (freeLater). */
export class DirectBoundary implements Boundary {
  readonly direct = true;
  private readonly encoder = new TextEncoder();
  /** argv for up to two arguments (JSValue pointers, 4 bytes each on wasm32), kept for the instance's life. */
  private readonly argv: number;
  private view: DataView;
  /** Where request strings are encoded before QuickJS copies them: reused, grown on demand (a malloc/free pair per call saved). */
  private scratch = 0;
  private scratchSize = 0;
  /** The heap as 32-bit words (replaced when the WASM memory grows). */
  private words: Int32Array;
  /** JSValue pointers waiting for the batched free (freeLater). */
  private readonly deferred: number[] = [];
  private flushScheduled = false;
  private disposed = false;
  /** Whether string results are read from QuickJS's memory directly (checked once, see probeRawStrings). */
  readonly rawStrings: boolean;

  constructor(
    private readonly ctx: QuickJSContext,
    private readonly i: Internals,
  ) {
    this.argv = i.module._malloc(8);
    this.view = new DataView(i.module.HEAPU8.buffer);
    this.words = new Int32Array(i.module.HEAPU8.buffer);
    this.rawStrings = this.probeRawStrings();
  }

  callString(fn: QuickJSHandle, meta: string, body: Uint8Array | null): string {
    const { i } = this;
    const c = i.ctx.value;
    const m = this.newString(meta);
    let b = 0;
    try {
      b = body === null ? this.undefinedPtr() : this.newArrayBuffer(body);
      // The heap's buffer is replaced when the WASM memory grows (possibly while creating m or b).
      let view = this.view;
      if (view.buffer !== i.module.HEAPU8.buffer) view = this.view = new DataView(i.module.HEAPU8.buffer);
      view.setUint32(this.argv, m, true);
      view.setUint32(this.argv + 4, b, true);
      return this.takeResult(i.ffi.QTS_Call(c, fn.value as unknown as number, this.undefinedPtr(), 2, this.argv));
    } finally {
      this.freeLater(m);
      if (body !== null && b !== 0) this.freeLater(b);
    }
  }

  callString0(fn: QuickJSHandle): string {
    return this.takeResult(this.i.ffi.QTS_Call(this.i.ctx.value, fn.value as unknown as number, this.undefinedPtr(), 0, this.argv));
  }

  private undefinedPtr(): number {
    return this.ctx.undefined.value as unknown as number;
  }

  private takeResult(result: number): string {
    const { i } = this;
    const c = i.ctx.value;
    // A Latin-1 string result (the usual answer) is read straight from its JSString: no exception
    // check, no UTF-8 copy in the WASM heap and no free of it (three calls into WASM, ≈1 µs each on
    // a cold cache). Anything else takes the FFI path.
    if (this.rawStrings) {
      const text = this.readLatin1(result);
      if (text !== null) {
        this.freeLater(result);
        return text;
      }
    }
    const error = i.ffi.QTS_ResolveException(c, result);
    if (error !== 0) {
      i.ffi.QTS_FreeValuePointer(c, result);
      throw new BoundaryThrow(i.memory.heapValueHandle(error));
    }
    try {
      const chars = i.ffi.QTS_GetString(c, result);
      try {
        return i.module.UTF8ToString(chars);
      } finally {
        i.ffi.QTS_FreeCString(c, chars);
      }
    } finally {
      i.ffi.QTS_FreeValuePointer(c, result);
    }
  }

  /**
   * The text of the JSValue at `ptr` when it is an 8-bit (Latin-1) string, else null. Layout of
   * QuickJS 2024 on wasm32 (NaN boxing off): JSValue = { u32 payload, i32 tag }, tag -7 = string;
   * JSString = { i32 ref_count, u32 len:31 | is_wide_char:1, u32 hash, u32 hash_next, chars }.
   * The constructor checks this against the FFI (probeRawStrings) before it is ever used.
   */
  private readLatin1(ptr: number): string | null {
    const heap = this.i.module.HEAPU8;
    let words = this.words;
    if (words.buffer !== heap.buffer) words = this.words = new Int32Array(heap.buffer);
    if (words[(ptr >> 2) + 1] !== JS_TAG_STRING) return null;
    const str = words[ptr >> 2];
    const bits = words[(str >> 2) + 1];
    if (bits < 0) return null; // is_wide_char: UTF-16 storage
    const start = str + JSSTRING_HEADER;
    return latin1Slice(heap, start, start + (bits & 0x7fffffff));
  }

  /** Whether readLatin1 reads strings exactly as the FFI does, for a narrow, a Latin-1 and a wide one. */
  private probeRawStrings(): boolean {
    const probes = ['', 'probe', 'pr\u00f6be \u00e9', 'wide \u2713'];
    for (const text of probes) {
      const h = this.ctx.newString(text);
      try {
        const got = this.readLatin1(h.value as unknown as number);
        const wide = text.includes('\u2713');
        if (wide ? got !== null : got !== text) return false;
      } finally {
        h.dispose();
      }
    }
    return true;
  }

  /**
   * Frees a JSValue pointer after the answer went out: the request's arguments and its answer are
   * released in one batch per event-loop turn instead of on the request's path (each free is a call
   * into WASM). The CPU is the same; the client waits less. dispose() frees what is left.
   */
  private freeLater(ptr: number): void {
    this.deferred.push(ptr);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const list = this.deferred;
    if (list.length === 0 || this.disposed) return;
    const c = this.i.ctx.value;
    for (let k = 0; k < list.length; k++) this.i.ffi.QTS_FreeValuePointer(c, list[k]);
    list.length = 0;
  };

  /** QTS_NewString reads a NUL-terminated UTF-8 string; the guest never gets NUL in meta (marshal.ts). */
  private newString(s: string): number {
    const { module, ffi, ctx } = this.i;
    const max = s.length * 3 + 1;
    if (max > this.scratchSize) {
      if (this.scratch !== 0) module._free(this.scratch);
      this.scratchSize = 0;
      const size = Math.max(SCRATCH_MIN, max);
      this.scratch = module._malloc(size);
      if (this.scratch === 0) throw new Error('QuickJS heap exhausted while passing the request');
      this.scratchSize = size;
    }
    const ptr = this.scratch;
    const heap = module.HEAPU8;
    // An ASCII head (the usual case) is copied by hand (marshal-util.ts).
    if (s.length <= ASCII_COPY_MAX && writeAscii(heap, ptr, s)) {
      heap[ptr + s.length] = 0;
    } else {
      const { written } = this.encoder.encodeInto(s, heap.subarray(ptr, ptr + max - 1));
      heap[ptr + written] = 0;
    }
    return ffi.QTS_NewString(ctx.value, ptr);
  }

  /** The guest ArrayBuffer takes ownership of the malloc'd copy (QuickJS frees it with the buffer). */
  private newArrayBuffer(bytes: Uint8Array): number {
    const { module, ffi, ctx } = this.i;
    const ptr = module._malloc(Math.max(1, bytes.byteLength));
    if (ptr === 0) throw new Error('QuickJS heap exhausted while passing the request body');
    module.HEAPU8.set(bytes, ptr);
    return ffi.QTS_NewArrayBuffer(ctx.value, ptr, bytes.byteLength);
  }

  dispose(): void {
    this.flush();
    this.disposed = true;
    this.i.module._free(this.argv);
    if (this.scratch !== 0) this.i.module._free(this.scratch);
    this.scratch = 0;
  }
}
