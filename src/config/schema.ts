import { Ajv, type ErrorObject, type SchemaValidateFunction, type ValidateFunction } from 'ajv';
import { AnomalyError, ErrorCodes } from '../core/errors.js';
import type { HandlerModule } from '../core/module.js';
import { adminSchema } from '../admin/config.js';
import { tracingSchema } from '../observe/tracing/config.js';
import { rateLimitsSchema, routeRateLimitSchema, tenantsSchema } from '../tenants/config.js';
import { cachesSchema, routeCacheSchema } from './cache.js';
import { checkHost, checkMethod, checkRoutePath } from './rules.js';
import { describeValue, tryParseDuration, tryParseSize } from './units.js';

/** What the loader needs from a handler module: its route key and the schema of its config block. */
export type ModuleSchema = Pick<HandlerModule, 'id' | 'schema' | 'sections'>;

/** Top-level keys of the config itself; module sections may not reuse them. */
const BUILTIN_SECTIONS: readonly string[] = ['listen', 'workers', 'worker_accept', 'storage', 'log', 'limits', 'sites', 'caches', 'admin', 'tenants', 'rate_limits', 'tracing'];

/** Keys of a route that are not handler ids. */
export const ROUTE_KEYS: readonly string[] = ['path', 'methods', 'cache', 'rate_limit'];

/**
 * Custom keyword for values JSON schema cannot describe well; its messages are written for people
 * ("must be a port number 0-65535 or false") instead of ajv's generic ones. Kinds are below.
 */
export const KIND_KEYWORD = 'x-anomaly';
type Kind = 'duration' | 'size' | 'tls-port' | 'plain-port' | 'host' | 'route-path' | 'method' | 'workers';

const kind = (k: Kind) => ({ [KIND_KEYWORD]: k });
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const FORMATS = ['auto', 'pretty', 'json'];

const limitsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    max_body: kind('size'),
    max_header_size: kind('size'),
    max_headers: { type: 'integer', minimum: 1 },
    max_uri: kind('size'),
    max_connections_per_ip: { type: 'integer', minimum: 0 },
    max_requests_per_connection: { type: 'integer', minimum: 0 },
    header_timeout: kind('duration'),
    request_timeout: kind('duration'),
    idle_timeout: kind('duration'),
    drain_timeout: kind('duration'),
  },
};

function routeSchema(modules: readonly ModuleSchema[]): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    path: { type: 'string', ...kind('route-path') },
    methods: { type: 'array', minItems: 1, items: { type: 'string', ...kind('method') } },
    cache: routeCacheSchema(),
    rate_limit: routeRateLimitSchema,
  };
  for (const module of modules) properties[module.id] = withoutMetaKeys(module.schema);
  // "Exactly one handler key" is checked by the loader, not with oneOf: one clear message beats
  // the pile of branch errors oneOf produces.
  return { type: 'object', additionalProperties: false, properties };
}

/** The draft-07 schema of a whole config file, given the handler modules that routes may use. */
export function configSchema(modules: readonly ModuleSchema[]): Record<string, unknown> {
  const ids = new Set<string>();
  for (const module of modules) {
    if (ROUTE_KEYS.includes(module.id)) {
      throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `handler module id "${module.id}" clashes with the route key of the same name`);
    }
    if (ids.has(module.id)) throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `two handler modules have the id "${module.id}"`);
    ids.add(module.id);
  }
  const sections: Record<string, unknown> = {};
  for (const module of modules) {
    for (const [key, schema] of Object.entries(module.sections ?? {})) {
      if (BUILTIN_SECTIONS.includes(key) || key in sections) {
        throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `handler module "${module.id}" declares the top-level section "${key}", which is already taken`);
      }
      sections[key] = withoutMetaKeys(schema);
    }
  }
  return {
    type: 'object',
    additionalProperties: false,
    required: ['sites'],
    // "x-..." keys are free for YAML anchors to hang on (x-common: &common ...), as in compose files.
    patternProperties: { '^x-': {} },
    properties: {
      ...sections,
      listen: {
        type: 'object',
        additionalProperties: false,
        properties: { tls: kind('tls-port'), plain: kind('plain-port'), address: { type: 'string', minLength: 1 }, http3: { type: 'boolean' } },
      },
      storage: { type: 'string', minLength: 1 },
      workers: kind('workers'),
      worker_accept: { enum: ['round-robin', 'kernel'] },
      caches: cachesSchema(),
      admin: adminSchema,
      tenants: tenantsSchema,
      rate_limits: rateLimitsSchema,
      tracing: tracingSchema,
      log: {
        type: 'object',
        additionalProperties: false,
        properties: { level: { type: 'string', enum: LEVELS }, format: { type: 'string', enum: FORMATS }, access: { type: 'boolean' } },
      },
      limits: limitsSchema,
      sites: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['routes'],
          properties: {
            hosts: { type: 'array', minItems: 1, items: { type: 'string', ...kind('host') } },
            tls: {
              type: 'object',
              additionalProperties: false,
              required: ['cert', 'key'],
              properties: { cert: { type: 'string', minLength: 1 }, key: { type: 'string', minLength: 1 } },
            },
            limits: limitsSchema,
            // Strict-Transport-Security on this site's HTTPS answers: a max-age, or the full form.
            hsts: {
              anyOf: [
                kind('duration'),
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['max_age'],
                  properties: { max_age: kind('duration'), include_subdomains: { type: 'boolean' }, preload: { type: 'boolean' } },
                },
              ],
            },
            tenant: { type: 'string', minLength: 1 },
            routes: { type: 'array', minItems: 1, items: routeSchema(modules) },
          },
        },
      },
    },
  };
}

function withoutMetaKeys(schema: Record<string, unknown>): Record<string, unknown> {
  // "$schema" is only allowed at the root of a schema; a module's schema becomes a subschema here.
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}

function checkKind(which: Kind, data: unknown): string | null {
  switch (which) {
    case 'duration': {
      const result = tryParseDuration(data);
      return result.ok ? null : `must be ${result.expected}; got ${describeValue(data)}`;
    }
    case 'size': {
      const result = tryParseSize(data);
      return result.ok ? null : `must be ${result.expected}; got ${describeValue(data)}`;
    }
    case 'tls-port':
      return data === false || isPort(data) ? null : `must be a port number 0-65535 or false, got ${describeValue(data)}`;
    case 'plain-port':
      return data === false || data === null || isPort(data) ? null : `must be a port number 0-65535, or false for none, got ${describeValue(data)}`;
    case 'host':
      return typeof data === 'string' ? checkHost(data) : null;
    case 'route-path':
      return typeof data === 'string' ? checkRoutePath(data) : null;
    case 'method':
      return typeof data === 'string' ? checkMethod(data) : null;
    case 'workers':
      return data === 'auto' || (typeof data === 'number' && Number.isInteger(data) && data >= 1 && data <= 256)
        ? null
        : `must be a number of worker processes 1-256, or "auto" (one per core), got ${describeValue(data)}`;
  }
}

function isPort(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535;
}

/** A compiled validator for one set of handler modules. */
export interface ConfigValidator {
  readonly handlerIds: readonly string[];
  /** Top-level section keys declared by the modules. */
  readonly sectionKeys: readonly string[];
  /** ajv's errors for `data` (empty when valid). */
  validate(data: unknown): ErrorObject[];
}

export function compileValidator(modules: readonly ModuleSchema[]): ConfigValidator {
  const ajv = new Ajv({
    allErrors: true,
    verbose: true, // errors carry parentSchema: the known keys for "did you mean"
    allowUnionTypes: true,
    strictTypes: false,
    strictTuples: false,
    strictRequired: false,
    validateFormats: false, // no format plugin is installed; formats in module schemas are not enforced
    logger: false,
    // ajv's name optimiser builds one object per generated identifier (err491, _errs602, ...):
    // ~1,300 shapes hung off V8's root Object map fill its 1,536 transitions, after which every
    // `{}`-born object (node's own nextTick records among them) gets a fresh map and the call
    // sites go megamorphic for the life of the process. hello-h1 cost 25-28 µs of CPU with it,
    // 18-22 µs without. Validation speed is irrelevant here (config loads only).
    code: { optimize: false },
  });
  const validateKind: SchemaValidateFunction = (schema: Kind, data: unknown) => {
    const message = checkKind(schema, data);
    validateKind.errors = message === null ? [] : [{ keyword: KIND_KEYWORD, message, params: {} }];
    return message === null;
  };
  ajv.addKeyword({ keyword: KIND_KEYWORD, schemaType: 'string', errors: true, validate: validateKind });
  let compiled: ValidateFunction;
  try {
    compiled = ajv.compile(configSchema(modules));
  } catch (err) {
    if (err instanceof AnomalyError) throw err;
    const ids = modules.map((m) => m.id).join(', ');
    throw new AnomalyError(ErrorCodes.CONFIG_MODULE, `the schema of a handler module (${ids}) is invalid: ${(err as Error).message}`, { cause: err });
  }
  return {
    handlerIds: modules.map((m) => m.id),
    sectionKeys: modules.flatMap((m) => Object.keys(m.sections ?? {})),
    validate(data) {
      return compiled(data) ? [] : [...(compiled.errors ?? [])];
    },
  };
}
