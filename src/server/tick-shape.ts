/**
 * Keeps one of node's `process.nextTick` records alive for the life of the process.
 *
 * Why: nextTick builds each record with the literal `{ [async_id_symbol], [trigger_async_id_symbol],
 * callback, args }`, whose maps hang off V8's root Object map by weak transitions, and records live for
 * one tick. After the memory reducer's full GCs (a few seconds idle, e.g. before traffic arrives) the
 * literal was seen meeting new maps until its inline cache went megamorphic for good: every record is
 * then built in the runtime, and a hello request costs ≈25-48 µs of CPU instead of ≈20 (bench/README.md,
 * "Where anomaly's time goes"; bench/probes/idle-then-load.mjs reproduces it). The exact V8 rule that
 * drops the chain is not pinned down; holding one record that never dies keeps it, measured on the real
 * server, so later records keep getting its map.
 */
import { executionAsyncResource } from 'node:async_hooks';

/** Resolves to the record, and holds it (and so its map) for the life of the process. */
let kept: Promise<object | null> | null = null;

/**
 * Captures a real nextTick record (the resource of the tick that runs the callback) and holds it.
 * Idempotent; resolves to the record kept, or null if this Node's ticks carry no such record.
 */
export function keepNextTickShape(): Promise<object | null> {
  kept ??= new Promise((resolve) => {
    process.nextTick(() => {
      const resource = executionAsyncResource();
      // The record carries `callback` and node's async id symbols (Node 22+ adds a context-frame symbol);
      // anything else (a Node whose ticks have no such resource) is not held.
      const isRecord = typeof resource === 'object' && resource !== null && 'callback' in resource && hasAsyncIdSymbols(resource);
      resolve(isRecord ? resource : null);
    });
  });
  return kept;
}

function hasAsyncIdSymbols(o: object): boolean {
  const names = Object.getOwnPropertySymbols(o).map((sym) => sym.description);
  return names.includes('async_id_symbol') && names.includes('trigger_async_id_symbol');
}
