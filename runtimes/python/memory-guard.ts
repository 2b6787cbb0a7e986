/**
 * The memory limit of an interpreter: emscripten grows the WASM heap from JS (Memory.prototype.grow),
 * so a wrapped grow can refuse to go past (heap after boot + the app's `memory`). malloc then fails
 * and Python raises MemoryError inside the call.
 *
 * The wrapper is process-wide (one per thread), and other engines' WASM memories grow through it
 * too: it finds the guarded interpreter by its heap's buffer and leaves every other memory alone.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface HeapGuard {
  /** The most the heap may reach (bytes); Infinity while booting. */
  cap: number;
  /** A grow was refused since the flag was last cleared (the call's MemoryError is ours). */
  refused: boolean;
  /** Stops guarding (the interpreter is gone). */
  release(): void;
}

interface Entry extends HeapGuard {
  readonly heap: () => Uint8Array;
}

const guards = new Set<Entry>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  // The build's lib has no WebAssembly value types; the runtime has them.
  const proto = (globalThis as unknown as { WebAssembly: { Memory: { prototype: WasmMemory } } }).WebAssembly.Memory.prototype;
  const nativeGrow = proto.grow;
  proto.grow = function grow(this: WasmMemory, pages: number): number {
    for (const g of guards) {
      // Emscripten keeps HEAPU8 on the memory's current buffer (until this very grow).
      if (g.heap().buffer !== this.buffer) continue;
      if (this.buffer.byteLength + pages * 65536 > g.cap) {
        g.refused = true;
        throw new RangeError('anomaly: memory limit reached');
      }
      break;
    }
    return nativeGrow.call(this, pages);
  };
}

/** Guards the memory behind `heap` (the interpreter's HEAPU8, read at each grow). */
export function guardHeap(heap: () => Uint8Array): HeapGuard {
  install();
  const entry: Entry = {
    cap: Infinity,
    refused: false,
    heap,
    release: () => void guards.delete(entry),
  };
  guards.add(entry);
  return entry;
}

