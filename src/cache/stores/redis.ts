import { Redis } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import { decodeEntry, encodeEntry, type CacheEntry } from '../entry.js';
import type { CacheStore, StoreStats } from './store.js';

export interface RedisStoreOptions {
  readonly url: string;
  /** Prefix of every key this store writes, so several zones (or apps) can share one Redis. */
  readonly prefix: string;
  /** Per-command timeout (ms): a slow Redis must cost a miss, not a hung request. */
  readonly timeout: number;
  readonly logger: Logger;
}

/**
 * Entries in Redis, shared by every anomaly instance that names the same server and prefix.
 * Size is bounded by Redis itself (maxmemory + an LRU eviction policy); each key carries a TTL
 * (PX) equal to the entry's storage lifetime. While Redis is unreachable every call answers as a
 * miss (or a no-op) at once, and one log line marks the outage and one its end.
 *
 * Client: ioredis, chosen by measurement over @redis/client (node-redis 6): ≈7 vs ≈18 µs of client
 * CPU per GET of a 1.5 KiB value at 50 in flight (docs/cache.md).
 */
export class RedisStore implements CacheStore {
  readonly kind = 'redis';
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #logger: Logger;
  #down = false;
  #closed = false;

  constructor(options: RedisStoreOptions) {
    this.#prefix = options.prefix;
    this.#logger = options.logger;
    this.#client = new Redis(options.url, {
      // Fail commands at once while disconnected instead of queueing them behind a dead socket.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeout,
      connectTimeout: Math.max(options.timeout, 1000),
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      lazyConnect: true,
    });
    this.#client.on('error', (err: Error) => this.#failed(err));
    this.#client.on('ready', () => {
      if (this.#down) this.#logger.info({ url: redactUrl(options.url) }, 'cache: redis reachable again');
      this.#down = false;
    });
    // Not awaited: the server starts even when Redis is down, and the client keeps reconnecting.
    // Until the first attempt settles, commands wait for it (up to the timeout) instead of missing.
    const first = this.#client.connect().then(
      () => undefined,
      (err: Error) => this.#failed(err),
    );
    this.#firstConnect = first;
    void first.finally(() => {
      this.#firstConnect = null;
    });
    this.#timeout = options.timeout;
  }

  #firstConnect: Promise<void> | null = null;
  readonly #timeout: number;

  /** Ready now, or after the first connection attempt (bounded by the timeout). */
  async #usable(): Promise<boolean> {
    if (this.#ready) return true;
    const first = this.#firstConnect;
    if (first === null) return false;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first, new Promise((resolve) => (timer = setTimeout(resolve, this.#timeout)))]);
    clearTimeout(timer);
    return this.#ready;
  }

  #failed(err: Error): void {
    if (this.#closed || this.#down) return;
    this.#down = true;
    this.#logger.warn({ err: { message: err.message } }, 'cache: redis unreachable; cache lookups answer as misses until it is back');
  }

  get #ready(): boolean {
    return this.#client.status === 'ready';
  }

  /** Resolves once connected (tests); rejects after `ms`. */
  async ready(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.#ready) {
      if (Date.now() > deadline) throw new Error('redis not ready');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async get(key: string): Promise<CacheEntry | null> {
    if (!this.#ready && !(await this.#usable())) return null;
    try {
      const value = await this.#client.getBuffer(this.#prefix + key);
      if (value === null) return null;
      const entry = decodeEntry(value);
      if (entry === null || entry.key !== key || entry.expiresAt <= Date.now()) return null;
      return entry;
    } catch (err) {
      this.#failed(err as Error);
      return null;
    }
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    if (!this.#ready && !(await this.#usable())) return;
    const ttl = Math.ceil(entry.expiresAt - Date.now());
    if (ttl <= 0) return;
    try {
      await this.#client.set(this.#prefix + key, encodeEntry(entry), 'PX', ttl);
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  async delete(key: string): Promise<boolean> {
    if (!this.#ready && !(await this.#usable())) return false;
    try {
      return (await this.#client.del(this.#prefix + key)) > 0;
    } catch (err) {
      this.#failed(err as Error);
      return false;
    }
  }

  /** Removes this store's keys (SCAN by prefix, never FLUSHDB: the Redis may hold other data). */
  async clear(): Promise<void> {
    if (!this.#ready) return;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.#client.scan(cursor, 'MATCH', `${escapeGlob(this.#prefix)}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) await this.#client.unlink(...keys);
      } while (cursor !== '0');
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  stats(): StoreStats {
    return { entries: null, bytes: null, maxBytes: null };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#ready) {
      try {
        await this.#client.quit();
        return;
      } catch {
        // fall through
      }
    }
    this.#client.disconnect();
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** The URL without its password, for logs. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
