/**
 * Active health checks: probe each target every `interval` ms; `unhealthy` consecutive failed
 * probes mark it down, `healthy` consecutive good ones bring it back. The probe itself (an HTTP
 * request) is injected, so this logic is tested without sockets.
 */
export interface ActiveOptions {
  readonly interval: number;
  readonly healthy: number;
  readonly unhealthy: number;
}

/** One target's up/down state from probe results. */
export class ActiveHealth {
  readonly #opts: ActiveOptions;
  #up = true;
  #streak = 0;

  constructor(opts: ActiveOptions) {
    this.#opts = opts;
  }

  get up(): boolean {
    return this.#up;
  }

  /** Feeds one probe result; returns 'down' or 'up' when the state changes, else null. */
  record(ok: boolean): 'up' | 'down' | null {
    if (ok === this.#up) {
      this.#streak = 0;
      return null;
    }
    this.#streak++;
    const needed = this.#up ? this.#opts.unhealthy : this.#opts.healthy;
    if (this.#streak < needed) return null;
    this.#up = ok;
    this.#streak = 0;
    return ok ? 'up' : 'down';
  }
}

/** Runs `probe` for every item each `interval` ms (no overlap per item) until stopped. */
export class Prober<T> {
  readonly #timer: NodeJS.Timeout;
  readonly #busy = new Set<T>();
  #stopped = false;

  constructor(items: readonly T[], interval: number, probe: (item: T) => Promise<void>) {
    const round = (): void => {
      for (const item of items) {
        if (this.#busy.has(item) || this.#stopped) continue;
        this.#busy.add(item);
        probe(item).finally(() => this.#busy.delete(item)).catch(() => {});
      }
    };
    this.#timer = setInterval(round, interval);
    this.#timer.unref();
    // First round at once: a target that is down at start should not get traffic for a whole interval.
    setImmediate(round);
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
  }
}
