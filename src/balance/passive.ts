/**
 * Passive health (nginx max_fails/fail_timeout, Envoy outlier detection): `fails` failures
 * within `window` ms eject a target for `ejectFor` ms. After that it is back in rotation; a
 * failure soon after starts a new count. The clock is injected for tests.
 */
export interface PassiveOptions {
  readonly fails: number;
  readonly window: number;
  readonly ejectFor: number;
}

export class PassiveHealth {
  readonly #opts: PassiveOptions;
  readonly #now: () => number;
  /** Times of recent failures, oldest first, at most `fails` kept. */
  #failures: number[] = [];
  #ejectedUntil = 0;
  /** Number of ejections so far (for status and logs). */
  ejections = 0;

  constructor(opts: PassiveOptions, now: () => number = Date.now) {
    this.#opts = opts;
    this.#now = now;
  }

  /** Records a failed attempt; returns true when it ejects the target. */
  failed(): boolean {
    const now = this.#now();
    if (now < this.#ejectedUntil) return false;
    const cutoff = now - this.#opts.window;
    const list = this.#failures;
    while (list.length > 0 && list[0] <= cutoff) list.shift();
    list.push(now);
    if (list.length < this.#opts.fails) return false;
    this.#failures = [];
    this.#ejectedUntil = now + this.#opts.ejectFor;
    this.ejections++;
    return true;
  }

  /** A success clears the failure count (failures must be close together to eject). */
  succeeded(): void {
    if (this.#failures.length > 0) this.#failures = [];
  }

  get ejected(): boolean {
    return this.#ejectedUntil !== 0 && this.#now() < this.#ejectedUntil;
  }
}
