/**
 * Keeps one of node's `process.nextTick` records alive for the life of the process.
 *
 * Why: nextTick builds each record with the literal `{ [async_id_symbol], [trigger_async_id_symbol],
 * callback, args }`, whose maps hang off V8's root Object map by weak transitions. Records live for one
 * tick, so a full GC that runs while none is queued (typically the memory reducer's GCs after some
 * seconds idle, before traffic arrives) frees the whole map chain, and the next record gets a new one.
 * After a few such GCs the literal's inline cache has seen too many maps and goes megamorphic for good:
 * every record is then built in the runtime, and a hello request costs ≈25-30 µs of CPU instead of
 * ≈20 (bench/README.md, "Where anomaly's time goes"). One record that never dies keeps the chain, so
 * every later record gets the same map and the cache stays monomorphic.
 */
import { executionAsyncResource } from 'node:async_hooks';

let kept: object | null = null;
let pending: Promise<object | null> | null = null;

/**
 * Captures a real nextTick record (the resource of the tick that runs the callback) and holds it.
 * Idempotent; resolves to the record kept, or null if this Node's ticks carry no such record.
 */
export function keepNextTickShape(): Promise<object | null> {
  pending ??= new Promise((resolve) => {
    process.nextTick(() => {
      const resource = executionAsyncResource();
      // The record has node's two symbols and `callback`; anything else (another Node) is not held.
      const isRecord = typeof resource === 'object' && resource !== null && 'callback' in resource && Object.getOwnPropertySymbols(resource).length === 2;
      kept = isRecord ? resource : null;
      resolve(kept);
    });
  });
  return pending;
}
