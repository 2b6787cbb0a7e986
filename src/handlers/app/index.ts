import type { HandlerModule, ProvisionedHandler } from '../../core/module.js';
import type { Runtime } from '../../../runtimes/contract.js';
import { appSchema, normaliseAppConfig, type AppConfigInput } from './config.js';
import { AppHost, type AppStatus } from './host.js';

export type { AppConfigInput, AppOptions } from './config.js';
export type { AppError, AppStatus } from './host.js';

/** The provisioned app handler: also reports its state (for status pages) and reloads on demand. */
export interface AppHandler extends ProvisionedHandler {
  status(): AppStatus;
  reload(): Promise<void>;
  dispose(): Promise<void>;
}

/**
 * The `app` handler module: runs an application file (app.js, app.lua, ...) in one of `runtimes`,
 * with an instance pool, hot reload and error mapping. See docs/apps.md.
 */
export function appModule(runtimes: ReadonlyArray<Runtime>): HandlerModule<AppConfigInput> {
  return {
    id: 'app',
    schema: appSchema,
    async create(config, ctx): Promise<AppHandler> {
      const options = normaliseAppConfig(config, ctx.baseDir, runtimes);
      const host = await AppHost.start(options, ctx.logger);
      return {
        handle: host.handle,
        status: () => host.status(),
        reload: () => host.reload(),
        dispose: () => host.dispose(),
      };
    },
  };
}
