import { GuestError, type AppInstance, type AppSource, type Runtime, type RuntimeLimits } from '../../../runtimes/contract.js';

/**
 * A Runtime whose engine module is imported on first use. The wiring names engines by id and
 * extension without importing them, so the server builds and starts even when an engine is missing
 * from this build (or fails to initialise): only apps that use it fail to load, with a clear message.
 * `open` returns the engine's Runtime (or a factory of it); it runs once per lazy runtime.
 */
export function lazyRuntime(id: string, extensions: readonly string[], open: () => Promise<unknown>): Runtime {
  let engine: Promise<Runtime> | null = null;
  const get = (): Promise<Runtime> =>
    (engine ??= open().then((found) => {
      const runtime = (typeof found === 'function' ? (found as () => unknown)() : found) as Runtime | undefined;
      if (runtime === undefined || runtime === null || typeof runtime.load !== 'function') throw new Error('the module does not export a Runtime');
      return runtime;
    }));
  return {
    id,
    extensions,
    async load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance> {
      let runtime: Runtime;
      try {
        runtime = await get();
      } catch (err) {
        engine = null; // a later attempt may succeed (e.g. after a deploy)
        throw new GuestError('load', `engine "${id}" is not available in this build: ${err instanceof Error ? err.message : String(err)}`, { file: source.file });
      }
      return runtime.load(source, limits);
    },
  };
}
