/**
 * Token buckets in Redis, shared by every anomaly instance (and worker) that names the same
 * server and prefix. One Lua script per take: refill by Redis's own clock (instances' clocks may
 * differ), take a token, keep the hash only as long as the bucket takes to fill up again.
 * While Redis is unreachable requests are allowed (a limiter must not take the site down) and one
 * log line marks the outage, one its end.
 */
import { Redis } from 'ioredis';
import type { Logger } from '../core/logger.js';
import type { RateSpec } from '../tenants/config.js';
import type { BucketStore } from './buckets.js';

const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = burst; at = now end
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
`;

export interface RedisBucketsOptions {
  readonly url: string;
  readonly prefix: string;
  /** Per-command timeout (ms); past it the request is allowed. */
  readonly timeout: number;
  readonly logger: Logger;
}

type WithTake = Redis & { anomalyTake(key: string, rate: number, burst: number): Promise<string> };

export class RedisBuckets implements BucketStore {
  readonly #client: WithTake;
  readonly #prefix: string;
  readonly #logger: Logger;
  #down = false;
  #closed = false;

  constructor(o: RedisBucketsOptions) {
    this.#prefix = o.prefix;
    this.#logger = o.logger;
    const client = new Redis(o.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: o.timeout,
      connectTimeout: Math.max(o.timeout, 1000),
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
      lazyConnect: true,
    });
    // defineCommand sends EVALSHA and falls back to EVAL once when Redis does not know the script.
    client.defineCommand('anomalyTake', { numberOfKeys: 1, lua: TAKE });
    this.#client = client as WithTake;
    client.on('error', (err: Error) => this.#failed(err));
    let connected = false;
    client.on('ready', () => {
      if (this.#down) this.#logger.info({}, 'rate limits: redis reachable again');
      else if (!connected) this.#logger.info({}, 'rate limits: redis connected');
      connected = true;
      this.#down = false;
    });
    client.connect().catch((err: Error) => this.#failed(err));
  }

  #failed(err: Error): void {
    if (this.#closed || this.#down) return;
    this.#down = true;
    this.#logger.warn({ err: { message: err.message } }, 'rate limits: redis unreachable; requests are not limited until it is back');
  }

  async take(key: string, spec: RateSpec): Promise<number> {
    if (this.#client.status !== 'ready') return 0;
    try {
      return Number(await this.#client.anomalyTake(this.#prefix + key, spec.perSecond, spec.burst));
    } catch (err) {
      this.#failed(err as Error);
      return 0;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    try {
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }
}
