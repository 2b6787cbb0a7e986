/**
 * The JavaScript engine: QuickJS compiled to WASM (quickjs-emscripten, sync variant).
 *
 * Each AppInstance gets its own WASM module (≈6 ms, lazily committed memory): a memory bomb grows
 * only that module's heap, which is freed with the instance, and a QuickJS abort (e.g. a leak
 * assertion after out-of-memory) cannot take other instances down with it.
 * Guests import nothing but 'anomaly' (bindings/js/anomaly.js); there are no file, network or
 * timer APIs in the context.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { newQuickJSWASMModuleFromVariant, newVariant, RELEASE_SYNC } from 'quickjs-emscripten';
import type { Logger } from '../../src/core/logger.js';
import type { AppInstance, AppSource, Runtime, RuntimeLimits } from '../contract.js';
import { QuickJSInstance, type GuestLog } from './instance.js';

export interface QuickJSRuntimeOptions {
  /** Where the guest's console.* lines go (nothing when absent). */
  readonly logger?: Logger;
}

/** bindings/js/anomaly.js, from the source tree (runtimes/quickjs) or the build (dist/runtimes/quickjs). */
export function bindingPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = join(here, up, 'bindings', 'js', 'anomaly.js');
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`bindings/js/anomaly.js not found above ${here}`);
}

function guestLog(logger: Logger | undefined): GuestLog | null {
  if (logger === undefined) return null;
  return (level, message, file) => {
    const fields = { app: file, engine: 'quickjs' };
    if (level === 'error') logger.error(fields, message);
    else if (level === 'warn') logger.warn(fields, message);
    else if (level === 'debug') logger.debug(fields, message);
    else logger.info(fields, message);
  };
}

const PAGE = 64 * 1024;
/** The variant's own initial size (16 MiB) and maximum (2 GiB). */
const INITIAL_PAGES = 256;
const MAX_PAGES = 32_768;
/** Room beyond the guest's heap limit for the WASM stack, the binding and the app's code. */
const HEADROOM = 16 * 1024 * 1024;

/**
 * The instance's WASM memory, capped near its memory limit. QuickJS's own limit does not count
 * everything (large strings escape it): without a cap, a loop of 1 MiB strings grew the module
 * towards 2 GiB for half a minute, polling the deadline too rarely to be stopped by it. With the
 * cap, malloc fails at the limit and QuickJS throws out-of-memory at once.
 */
function cappedMemory(memoryBytes: number): unknown {
  const maximum = Math.min(MAX_PAGES, Math.max(INITIAL_PAGES * 2, Math.ceil((memoryBytes + HEADROOM) / PAGE)));
  // WebAssembly's types are not in this project's lib (no DOM): the constructor is reached untyped.
  const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => unknown } }).WebAssembly;
  return new wasm.Memory({ initial: INITIAL_PAGES, maximum });
}

export function quickjsRuntime(options: QuickJSRuntimeOptions = {}): Runtime {
  let binding: string | null = null;
  const log = guestLog(options.logger);
  return {
    id: 'quickjs',
    extensions: ['.js', '.mjs'],
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      binding ??= readFileSync(bindingPath(), 'utf8');
      const options = { wasmMemory: cappedMemory(limits.memoryBytes) } as unknown as Parameters<typeof newVariant>[1];
      const mod = await newQuickJSWASMModuleFromVariant(newVariant(RELEASE_SYNC, options));
      return QuickJSInstance.create(mod, binding, source, limits, log);
    },
  };
}
