/**
 * The standard wiring: which handler modules exist and where certificates come from.
 * The only place that knows the whole set; everything else receives it.
 */
import type { Logger } from './core/logger.js';
import type { HandlerModule } from './core/module.js';
import type { ServerConfig } from './config/types.js';
import type { Runtime } from '../runtimes/contract.js';
import { appModule } from './handlers/app/index.js';
import { lazyRuntime } from './handlers/app/lazy.js';
import { echoModule } from './handlers/echo/index.js';
import { proxyModule } from './handlers/proxy/index.js';
import { redirectModule, respondModule } from './handlers/respond/index.js';
import { staticModule } from './handlers/static/index.js';
import type { Certificates } from './server/server.js';
import { CertStore } from './tls/cert-store.js';
import { CacheZones } from './cache/zones.js';

/**
 * The route-level cache layer (`cache:` on a route, `caches:` zones). One per server: zones and
 * their entries survive config reloads. Pass `wrapRoute` to AnomalyServer; the admin API purges
 * through the same object.
 */
export function standardCaches(): CacheZones {
  return new CacheZones();
}

export function standardModules(): HandlerModule[] {
  return [
    staticModule as HandlerModule,
    respondModule as HandlerModule,
    redirectModule as HandlerModule,
    echoModule as HandlerModule,
    proxyModule as HandlerModule,
    appModule(standardRuntimes()) as HandlerModule,
  ];
}

/**
 * The application engines, imported when an app first needs one: the server does not pay for
 * engines it does not use, and an engine missing from a build fails only the apps that name it.
 * Specifiers are variables so the build does not require every engine to exist.
 */
export function standardRuntimes(): Runtime[] {
  const engine = (spec: string, name: string) => async (): Promise<unknown> => ((await import(spec)) as Record<string, unknown>)[name];
  return [
    lazyRuntime('quickjs', ['.js', '.mjs'], engine('../runtimes/quickjs/index.js', 'quickjsRuntime')),
    lazyRuntime('fengari', ['.lua'], engine('../runtimes/lua-fengari/index.js', 'fengariRuntime')),
    lazyRuntime('wasmoon', ['.lua'], engine('../runtimes/lua-wasmoon/index.js', 'wasmoonRuntime')),
    lazyRuntime('pyodide', ['.py'], engine('../runtimes/python/index.js', 'pythonRuntime')),
    lazyRuntime('java', ['.java'], engine('../runtimes/java/index.js', 'javaRuntime')),
  ];
}

export async function standardCertificates(config: ServerConfig, logger: Logger): Promise<Certificates> {
  const store = await CertStore.build(config.sites, config.storage, logger);
  return { sniCallback: store.sniCallback, defaultPem: { cert: store.cert, key: store.key }, localCaPath: store.localCaPath };
}
