import { parseDuration } from '../../config/units.js';
import { parseHashKey, POLICY_NAMES, type HashKey, type PolicyName } from '../../balance/policy.js';
import type { ActiveCheckOptions, GroupOptions } from '../../upstream/group.js';
import { TrustedProxies } from './headers.js';

/** Config of an upstream group: a top-level `upstreams.<name>` entry, or inline in `proxy:` with `to`. */
export interface GroupConfig {
  to: string | Array<string | TargetConfig>;
  balance?: PolicyName;
  hash_key?: string;
  max_conns?: number;
  keepalive?: string | number;
  timeouts?: { connect?: string | number; first_byte?: string | number; idle?: string | number };
  retry?: { attempts?: number; statuses?: number[] };
  tls?: { ca?: string; verify?: boolean; servername?: string };
  health?: {
    active?: { path?: string; interval?: string | number; timeout?: string | number; healthy?: number; unhealthy?: number; expect_status?: number | string | Array<number | string> };
    passive?: { fails?: number; window?: string | number; eject_for?: string | number };
  };
}
export interface TargetConfig {
  url: string;
  weight?: number;
  max_conns?: number;
}

/** The `proxy:` block of a route. */
export interface ProxyConfig extends Partial<GroupConfig> {
  upstream?: string;
  strip_prefix?: string;
  host?: string;
  trusted_proxies?: string[];
  x_forwarded?: boolean;
  forwarded?: boolean;
  via?: boolean;
  websocket?: boolean;
  request_headers?: HeaderRules;
  response_headers?: HeaderRules;
}
export interface HeaderRules {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

const duration = { 'x-anomaly': 'duration' };
const posInt = { type: 'integer', minimum: 1 };
const url = { type: 'string', pattern: '^https?://[^/?#]+', minLength: 8 };
const targetSchema = {
  anyOf: [
    url,
    { type: 'object', additionalProperties: false, required: ['url'], properties: { url, weight: { type: 'integer', minimum: 1, maximum: 1000 }, max_conns: { type: 'integer', minimum: 0 } } },
  ],
};
const statusItem = { anyOf: [{ type: 'integer', minimum: 100, maximum: 599 }, { type: 'string', pattern: '^[1-5]xx$' }] };

/** Keys shared by `upstreams.<name>` and an inline `proxy:` group. */
export const GROUP_PROPERTIES: Record<string, unknown> = {
  to: { anyOf: [url, { type: 'array', minItems: 1, items: targetSchema }] },
  balance: { type: 'string', enum: [...POLICY_NAMES] },
  hash_key: { type: 'string', minLength: 1 },
  max_conns: { type: 'integer', minimum: 0 },
  keepalive: duration,
  timeouts: { type: 'object', additionalProperties: false, properties: { connect: duration, first_byte: duration, idle: duration } },
  tls: {
    type: 'object',
    additionalProperties: false,
    properties: { ca: { type: 'string', minLength: 1 }, verify: { type: 'boolean' }, servername: { type: 'string', minLength: 1 } },
  },
  retry: {
    type: 'object',
    additionalProperties: false,
    properties: { attempts: { type: 'integer', minimum: 1, maximum: 10 }, statuses: { type: 'array', items: { type: 'integer', minimum: 500, maximum: 599 } } },
  },
  health: {
    type: 'object',
    additionalProperties: false,
    properties: {
      active: {
        type: 'object',
        additionalProperties: false,
        properties: {
          path: { type: 'string', pattern: '^/' },
          interval: duration,
          timeout: duration,
          healthy: posInt,
          unhealthy: posInt,
          expect_status: { anyOf: [statusItem, { type: 'array', minItems: 1, items: statusItem }] },
        },
      },
      passive: { type: 'object', additionalProperties: false, properties: { fails: posInt, window: duration, eject_for: duration } },
    },
  },
};

export const GROUP_SCHEMA = { type: 'object', additionalProperties: false, required: ['to'], properties: GROUP_PROPERTIES };

/** Schema of the top-level `upstreams:` map: name → group. */
export const UPSTREAMS_SCHEMA = {
  type: 'object',
  propertyNames: { pattern: '^[A-Za-z0-9_.-]+$' },
  additionalProperties: GROUP_SCHEMA,
};

// RFC 9110 token for names; values without CR, LF or NUL (they would split or end the header).
const FIELD_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$";
const fieldMap = { type: 'object', propertyNames: { pattern: FIELD_NAME }, additionalProperties: { type: 'string', pattern: '^[^\\r\\n\\u0000]*$' } };
const headerRules = {
  type: 'object',
  additionalProperties: false,
  properties: {
    set: fieldMap,
    add: fieldMap,
    remove: { type: 'array', items: { type: 'string', pattern: FIELD_NAME } },
  },
};

export const PROXY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...GROUP_PROPERTIES,
    upstream: { type: 'string', minLength: 1 },
    strip_prefix: { type: 'string', pattern: '^/' },
    host: { type: 'string', minLength: 1 },
    trusted_proxies: { type: 'array', items: { type: 'string', minLength: 1 } },
    x_forwarded: { type: 'boolean' },
    forwarded: { type: 'boolean' },
    via: { type: 'boolean' },
    websocket: { type: 'boolean' },
    request_headers: headerRules,
    response_headers: headerRules,
  },
};

export const GROUP_KEYS = Object.keys(GROUP_PROPERTIES);

/** Config errors thrown here name the field; the dispatcher prefixes file:line and the handler. */
export class ProxyConfigError extends Error {}

const ms = (v: string | number | undefined, fallback: number): number => (v === undefined ? fallback : parseDuration(v));

function statusMatcher(spec: number | string | Array<number | string> | undefined): (status: number) => boolean {
  const items = spec === undefined ? ['2xx'] : Array.isArray(spec) ? spec : [spec];
  const exact = new Set<number>();
  const classes = new Set<number>();
  for (const item of items) {
    if (typeof item === 'number') exact.add(item);
    else classes.add(Number(item[0]));
  }
  return (status) => exact.has(status) || classes.has(Math.floor(status / 100));
}

/** Validated group options from config; `where` names the block in messages ("upstreams.api"). */
export function groupOptions(name: string, config: Partial<GroupConfig>, where: string): GroupOptions {
  if (config.to === undefined) throw new ProxyConfigError(`${where}: "to" is missing: list the upstream URLs (to: [http://127.0.0.1:3000])`);
  const list = Array.isArray(config.to) ? config.to : [config.to];
  const maxConns = config.max_conns ?? 0;
  const seen = new Set<string>();
  const targets = list.map((item, i) => {
    const t: TargetConfig = typeof item === 'string' ? { url: item } : item;
    let parsed: URL;
    try {
      parsed = new URL(t.url);
    } catch {
      throw new ProxyConfigError(`${where}.to[${i}]: "${t.url}" is not a valid URL`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new ProxyConfigError(`${where}.to[${i}]: "${t.url}" must start with http:// or https://`);
    if (parsed.search !== '' || parsed.hash !== '') throw new ProxyConfigError(`${where}.to[${i}]: "${t.url}": an upstream URL has no query or fragment`);
    const id = parsed.origin + parsed.pathname;
    if (seen.has(id)) throw new ProxyConfigError(`${where}.to[${i}]: "${t.url}" is listed twice`);
    seen.add(id);
    return { url: parsed, weight: t.weight ?? 1, maxConns: t.max_conns ?? maxConns };
  });
  const policy = config.balance ?? 'round_robin';
  let hashKey: HashKey | undefined;
  if (config.hash_key !== undefined) {
    if (policy !== 'hash') throw new ProxyConfigError(`${where}.hash_key: only used with balance: hash (balance is ${policy})`);
    const parsedKey = parseHashKey(config.hash_key);
    if (typeof parsedKey === 'string') throw new ProxyConfigError(`${where}.hash_key: ${parsedKey}`);
    hashKey = parsedKey;
  }
  const statuses = config.retry?.statuses ?? [502, 503, 504];
  const activeConfig = config.health?.active;
  let active: ActiveCheckOptions | null = null;
  if (activeConfig !== undefined) {
    const interval = ms(activeConfig.interval, 5000);
    const timeout = ms(activeConfig.timeout, Math.min(2000, interval));
    if (interval < 100) throw new ProxyConfigError(`${where}.health.active.interval: at least 100ms`);
    active = {
      path: activeConfig.path ?? '/',
      interval,
      timeout,
      healthy: activeConfig.healthy ?? 2,
      unhealthy: activeConfig.unhealthy ?? 2,
      expect: statusMatcher(activeConfig.expect_status),
    };
  }
  const passiveConfig = config.health?.passive;
  return {
    name,
    targets,
    policy,
    hashKey,
    timeouts: {
      connect: ms(config.timeouts?.connect, 5000),
      firstByte: ms(config.timeouts?.first_byte, 60_000),
      idle: ms(config.timeouts?.idle, 60_000),
    },
    keepAlive: ms(config.keepalive, 4000),
    tls: { ca: config.tls?.ca ?? null, verify: config.tls?.verify !== false, servername: config.tls?.servername ?? null },
    retry: { attempts: config.retry?.attempts ?? Math.min(3, targets.length), statuses: new Set(statuses) },
    // Passive checks are on by default (as nginx's max_fails=1 fail_timeout=10s, a little more forgiving).
    passive:
      passiveConfig === undefined && targets.length === 1
        ? null
        : { fails: passiveConfig?.fails ?? 3, window: ms(passiveConfig?.window, 10_000), ejectFor: ms(passiveConfig?.eject_for, 10_000) },
    active,
  };
}

export function checkTrusted(list: readonly string[]): void {
  list.forEach((cidr, i) => {
    const problem = TrustedProxies.check(cidr);
    if (problem !== null) throw new ProxyConfigError(`trusted_proxies[${i}]: ${problem}`);
  });
}
