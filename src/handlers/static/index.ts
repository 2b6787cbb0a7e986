import { realpathSync, statSync } from 'node:fs';
import { AnomalyError, ErrorCodes } from '../../core/errors.js';
import type { HandlerModule, ModuleContext, ProvisionedHandler } from '../../core/module.js';
import { normaliseOptions, staticSchema, type StaticConfigInput, type StaticOptions } from './config.js';
import { StaticHandler } from './handler.js';

export { parseSize, staticSchema, type StaticConfigInput, type StaticOptions } from './config.js';
export { StaticHandler } from './handler.js';

/** `static:` routes: files under a root directory, with caching, ranges, compression and validators. */
export const staticModule: HandlerModule<StaticConfigInput> = {
  id: 'static',
  schema: staticSchema,
  create(config: StaticConfigInput, ctx: ModuleContext): ProvisionedHandler {
    let opts: StaticOptions;
    try {
      opts = normaliseOptions(config, ctx.baseDir);
    } catch (err) {
      throw new AnomalyError(ErrorCodes.CONFIG_MODULE, (err as Error).message, { cause: err });
    }
    let realRoot: string;
    try {
      if (!statSync(opts.root).isDirectory()) {
        throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `static.root: "${opts.root}" is not a directory`);
      }
      realRoot = realpathSync(opts.root);
    } catch (err) {
      if (err instanceof AnomalyError) throw err;
      throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `static.root: directory "${opts.root}" does not exist`, { cause: err });
    }
    const handler = new StaticHandler(opts, realRoot, ctx.logger.child({ module: 'static' }));
    return { handle: handler.handle, dispose: () => handler.dispose() };
  },
};
