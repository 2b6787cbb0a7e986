export type { Limits, ListenConfig, LogConfig, RouteConfig, SiteConfig, ServerConfig } from './types.js';
export { ConfigError, formatProblem, formatProblems, type ConfigProblem } from './errors.js';
export { createConfigParser, loadConfigFile, parseConfig, type ConfigParser, type ParseOptions } from './load.js';
export { demoConfig, staticDirConfig, type StaticDirOptions } from './presets.js';
export { parseDuration, parseSize } from './units.js';
export { watchConfigFile, type ConfigWatcher } from './watch.js';
export { configSchema, type ModuleSchema } from './schema.js';
export { DEFAULT_LIMITS, DEFAULT_TLS_PORT } from './normalise.js';
