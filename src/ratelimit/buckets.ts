/**
 * Token buckets: each key holds up to `burst` tokens, refilled at `perSecond`; a request takes
 * one. The interface answers how long to wait (0 = allowed), so a refusal can say Retry-After.
 * LocalBuckets keep the state in this process (per worker); RedisBuckets share it.
 */
import type { RateSpec } from '../tenants/config.js';

export interface BucketStore {
  /** Takes a token from `key`: 0 when allowed, else the seconds until one is available. */
  take(key: string, spec: RateSpec): number | Promise<number>;
  close?(): Promise<void>;
}

interface Bucket {
  tokens: number;
  /** performance.now() of the last refill. */
  at: number;
}

/** Idle buckets are full again after burst/rate seconds; they are dropped then (no state needed). */
const SWEEP_EVERY_MS = 10_000;
/** A flood of distinct client addresses cannot grow the table past this. */
const MAX_BUCKETS = 100_000;

export class LocalBuckets implements BucketStore {
  readonly #buckets = new Map<string, Bucket>();
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => this.#sweep(), SWEEP_EVERY_MS);
    this.#timer.unref();
  }

  take(key: string, spec: RateSpec, now = performance.now()): number {
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= MAX_BUCKETS) this.#buckets.delete(this.#buckets.keys().next().value as string);
      b = { tokens: spec.burst, at: now };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(spec.burst, b.tokens + ((now - b.at) / 1000) * spec.perSecond);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / spec.perSecond;
  }

  #sweep(): void {
    // A bucket untouched for a minute is full for any rate above one per minute: forget it.
    const stale = performance.now() - 60_000;
    for (const [key, b] of this.#buckets) if (b.at < stale) this.#buckets.delete(key);
  }

  get size(): number {
    return this.#buckets.size;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
  }
}
