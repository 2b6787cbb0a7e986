import type { AdminConfig } from '../admin/config.js';
import type { TracingConfig } from '../observe/tracing/config.js';
import type { RateLimitStoreConfig, RouteRateLimit, TenantConfig } from '../tenants/config.js';
import type { CacheZoneConfig, RouteCacheConfig } from './cache.js';

/** The normalised configuration the server consumes: durations in ms, sizes in bytes, absolute paths. */
export interface Limits {
  maxBody: number;
  maxHeaderSize: number;
  maxHeaders: number;
  /** Longest request target (path and query); longer gets 414. */
  maxUri: number;
  /** Open connections one client address may hold (0: no limit). Server-wide. */
  maxConnectionsPerIp: number;
  /** Requests served on one connection before it is closed gracefully (0: no limit). Server-wide. */
  maxRequestsPerConnection: number;
  headerTimeout: number;
  requestTimeout: number;
  idleTimeout: number;
  drainTimeout: number;
}
export interface ListenConfig {
  tls: number | null;
  plain: number | null;
  address: string;
  /** HTTP/3 (QUIC) on the UDP port with the TLS port's number; needs the native binding. */
  http3: boolean;
}
export interface LogConfig {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  format: 'auto' | 'pretty' | 'json';
  access: boolean;
}
export interface RouteConfig {
  path: string;
  methods: string[] | null;
  module: string;
  config: unknown;
  /** "file:line" of the route, for messages. */
  where: string;
  /** The route's cache (the `cache:` key), or null. */
  cache: RouteCacheConfig | null;
  /** The route's own rate limit (`rate_limit:`), or null/absent. */
  rateLimit?: RouteRateLimit | null;
  /** The tenant owning the route's site, resolved (limits and quotas), or null/absent. */
  tenant?: TenantConfig | null;
  /** Directory the handler's relative paths resolve against, when not the config's (tenant files). */
  baseDir?: string;
}
export interface SiteConfig {
  /** First host or "default". */
  name: string;
  hosts: string[];
  tls: { cert: string; key: string } | null;
  limits: Limits;
  /** The Strict-Transport-Security value for this site's HTTPS answers, or null. */
  hsts?: string | null;
  routes: RouteConfig[];
  /** The tenant that owns this site (the `tenants:` section), or null/absent. */
  tenant?: string | null;
}
export interface ServerConfig {
  /** Absolute file path, or null when embedded/generated. */
  source: string | null;
  baseDir: string;
  listen: ListenConfig;
  storage: string;
  /** Worker processes (1: no supervisor, everything in this process). "auto" is resolved to the core count. */
  workers: number;
  /**
   * How connections reach workers: the supervisor hands them out in turn (round-robin, even spread
   * of keep-alive connections), or every worker accepts on the shared socket (kernel: no supervisor
   * hop per connection, but a burst of connections can pile onto one worker). Fixed at start.
   */
  workerAccept: 'round-robin' | 'kernel';
  log: LogConfig;
  limits: Limits;
  /** Named cache zones (the `caches:` section). */
  caches: CacheZoneConfig[];
  sites: SiteConfig[];
  /** The admin API listener (`admin:`), or null/absent when off. */
  admin?: AdminConfig | null;
  /** Tenants (`tenants:`) with their limits; sites name theirs with `tenant:`. */
  tenants?: TenantConfig[];
  /** Where rate-limit buckets live (`rate_limits:`); absent = this process. */
  rateLimits?: RateLimitStoreConfig;
  /** OpenTelemetry request spans over OTLP (`tracing:`), or null/absent. */
  tracing?: TracingConfig | null;
  /** Values of the top-level sections handler modules declare (e.g. `upstreams`), as validated. */
  sections?: Record<string, unknown>;
}
