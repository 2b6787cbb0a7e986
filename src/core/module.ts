import type { Handler } from './handler.js';
import type { Logger } from './logger.js';

/** What a handler module gets when it is provisioned from config. */
export interface ModuleContext {
  readonly logger: Logger;
  /** Directory of the config file; relative paths in module config resolve against it. */
  readonly baseDir: string;
  /** Where the server may keep state (certificates, caches). */
  readonly dataDir: string;
  /** Top-level config sections declared by handler modules (HandlerModule.sections), schema-checked. */
  readonly sections?: Readonly<Record<string, unknown>>;
  /**
   * One value per key for this config version, shared by every route that asks (e.g. an upstream
   * group several routes proxy to); `dispose` runs when the config is retired.
   */
  shared?<T>(key: string, create: () => T, dispose?: (value: T) => void | Promise<void>): T;
}

/** A provisioned handler instance. dispose() runs when a config reload retires it. */
export interface ProvisionedHandler {
  readonly handle: Handler;
  dispose?(): void | Promise<void>;
}

/**
 * A handler module (Caddy-style): an ID used as the route key in config, a JSON schema for its
 * config block, and a factory. Validation beyond the schema belongs in create() and throws
 * AnomalyError(ANOMALY_E_CONFIG_MODULE) naming the field.
 */
export interface HandlerModule<C = unknown> {
  readonly id: string;
  readonly schema: Record<string, unknown>;
  /** Top-level config keys this module owns (e.g. proxy's `upstreams:`), each with its value's schema. */
  readonly sections?: Readonly<Record<string, Record<string, unknown>>>;
  /**
   * Checks that need more than the schema (references between a route and a section), run by the
   * config loader so `anomaly check` reports them; returns problem messages, empty when fine.
   */
  validate?(config: C, sections: Readonly<Record<string, unknown>>): string[];
  create(config: C, ctx: ModuleContext): ProvisionedHandler | Promise<ProvisionedHandler>;
}
