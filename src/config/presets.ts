import { join, resolve } from 'node:path';
import { parseConfig } from './load.js';
import type { ModuleSchema } from './schema.js';
import type { ServerConfig } from './types.js';

/**
 * Stand-ins for the handler modules the built-in configs use, for callers that only need the
 * config (no schema checks of the handler blocks). The server passes the real modules.
 */
const OPEN_MODULES: readonly ModuleSchema[] = [
  { id: 'static', schema: { type: 'object' } },
  { id: 'respond', schema: { type: 'object' } },
];

/** The config `npm start` runs: a greeting at /hello and the demo site for everything else. */
export function demoConfig(packageRoot: string, modules: ReadonlyArray<ModuleSchema> = OPEN_MODULES): ServerConfig {
  const root = resolve(packageRoot);
  // Embedded YAML, validated like a user's file. JSON strings are valid YAML scalars.
  const text = `listen:
  tls: 8443
  plain: 8080
sites:
  - routes:
      - path: /hello
        respond:
          status: 200
          body: "hello from anomaly\\n"
          headers: { content-type: "text/plain; charset=utf-8" }
      - path: /*
        static:
          root: ${JSON.stringify(join(root, 'examples', 'demo', 'public'))}
`;
  return parseConfig(text, '<embedded demo>', modules, { baseDir: root });
}

export interface StaticDirOptions {
  readonly tls?: number;
  readonly plain?: number | null;
  readonly listing?: boolean;
}

/** The config of `anomaly serve --static DIR`: one default site serving DIR. */
export function staticDirConfig(dir: string, options: StaticDirOptions = {}, modules: ReadonlyArray<ModuleSchema> = OPEN_MODULES): ServerConfig {
  const staticBlock: Record<string, unknown> = { root: resolve(dir) };
  if (options.listing !== undefined) staticBlock.listing = options.listing;
  const listen: Record<string, unknown> = { tls: options.tls ?? 8443 };
  if (options.plain !== undefined && options.plain !== null) listen.plain = options.plain;
  const raw = { listen, sites: [{ routes: [{ path: '/*', static: staticBlock }] }] };
  return parseConfig(JSON.stringify(raw, null, 2), '<serve --static>', modules);
}
