/**
 * The standard wiring: which handler modules exist and where certificates come from.
 * The only place that knows the whole set; everything else receives it.
 */
import type { Logger } from './core/logger.js';
import type { HandlerModule } from './core/module.js';
import type { ServerConfig } from './config/types.js';
import { echoModule } from './handlers/echo/index.js';
import { redirectModule, respondModule } from './handlers/respond/index.js';
import { staticModule } from './handlers/static/index.js';
import type { Certificates } from './server/server.js';
import { CertStore } from './tls/cert-store.js';

export function standardModules(): HandlerModule[] {
  return [staticModule as HandlerModule, respondModule as HandlerModule, redirectModule as HandlerModule, echoModule as HandlerModule];
}

export async function standardCertificates(config: ServerConfig, logger: Logger): Promise<Certificates> {
  const store = await CertStore.build(config.sites, config.storage, logger);
  return { sniCallback: store.sniCallback, defaultPem: { cert: store.cert, key: store.key }, localCaPath: store.localCaPath };
}
