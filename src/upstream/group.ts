import type { Logger } from '../core/logger.js';
import { Prober } from '../balance/active.js';
import type { PassiveOptions } from '../balance/passive.js';
import { createPolicy, type BalancePolicy, type BalanceRequest, type HashKey, type PolicyName } from '../balance/policy.js';
import { UpstreamTarget, type Timeouts, type UpstreamTls } from './target.js';

export interface ActiveCheckOptions {
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly expect: (status: number) => boolean;
}

export interface RetryOptions {
  /** Total tries per request, first one included. */
  readonly attempts: number;
  /** Upstream statuses that count as failures worth another target (idempotent requests only). */
  readonly statuses: ReadonlySet<number>;
}

export interface GroupOptions {
  readonly name: string;
  readonly targets: ReadonlyArray<{ readonly url: URL; readonly weight: number; readonly maxConns: number }>;
  readonly policy: PolicyName;
  readonly hashKey?: HashKey;
  readonly timeouts: Timeouts;
  readonly keepAlive: number;
  /** For https:// targets: extra CA (PEM file path), certificate verification, SNI name. */
  readonly tls: UpstreamTls;
  readonly retry: RetryOptions;
  readonly passive: PassiveOptions | null;
  readonly active: ActiveCheckOptions | null;
}

/**
 * A named set of upstream targets with one balancing policy and shared health state. Routes that
 * name the same group share it: connection counts, ejections and health checks are per group.
 */
export class UpstreamGroup {
  readonly name: string;
  readonly targets: readonly UpstreamTarget[];
  readonly policy: BalancePolicy<UpstreamTarget>;
  readonly timeouts: Timeouts;
  readonly retry: RetryOptions;
  readonly #logger: Logger;
  readonly #prober: Prober<UpstreamTarget> | null;

  constructor(opts: GroupOptions, logger: Logger) {
    this.name = opts.name;
    this.#logger = logger;
    this.timeouts = opts.timeouts;
    this.retry = opts.retry;
    const active = opts.active;
    this.targets = opts.targets.map(
      (t) =>
        new UpstreamTarget({
          url: t.url,
          weight: t.weight,
          maxConns: t.maxConns,
          timeouts: opts.timeouts,
          keepAlive: opts.keepAlive,
          tls: opts.tls,
          passive: opts.passive,
          active: active === null ? null : { interval: active.interval, healthy: active.healthy, unhealthy: active.unhealthy },
        }),
    );
    this.policy = createPolicy(opts.policy, this.targets, { hashKey: opts.hashKey });
    this.#prober = active === null ? null : new Prober(this.targets, active.interval, (t) => this.#probe(t, active));
  }

  /** A usable target not in `tried`, by the group's policy; null when none is left. */
  select(req: BalanceRequest, tried: ReadonlySet<UpstreamTarget> | null): UpstreamTarget | null {
    return this.policy.pick(this.targets, tried === null ? isUsable : (t) => !tried.has(t) && t.usable(), req);
  }

  /** Whether a usable target other than `target` and those in `tried` exists (worth a retry). */
  hasOther(target: UpstreamTarget, tried: ReadonlySet<UpstreamTarget> | null): boolean {
    for (const t of this.targets) if (t !== target && (tried === null || !tried.has(t)) && t.usable()) return true;
    return false;
  }

  /** A failed attempt (connect error, timeout, or a retryable status) counts towards passive ejection. */
  failed(target: UpstreamTarget, reason: string): void {
    if (target.passive?.failed() === true) {
      this.#logger.warn({ upstream: this.name, target: target.id, reason, ejections: target.passive.ejections }, 'upstream target ejected');
    }
  }

  succeeded(target: UpstreamTarget): void {
    target.passive?.succeeded();
  }

  async #probe(target: UpstreamTarget, check: ActiveCheckOptions): Promise<void> {
    let ok = false;
    let detail = '';
    try {
      const res = await target.pool.request({
        method: 'GET',
        path: target.basePath + check.path,
        headers: { 'user-agent': 'anomaly-health-check' },
        headersTimeout: check.timeout,
        bodyTimeout: check.timeout,
        signal: AbortSignal.timeout(check.timeout),
      });
      await res.body.dump();
      ok = check.expect(res.statusCode);
      detail = `status ${res.statusCode}`;
    } catch (err) {
      detail = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    const change = target.checks?.record(ok) ?? null;
    if (change === 'down') this.#logger.warn({ upstream: this.name, target: target.id, check: detail }, 'upstream target failed its health check: down');
    else if (change === 'up') this.#logger.info({ upstream: this.name, target: target.id }, 'upstream target passed its health check: up');
  }

  /** Health and load of each target, for status pages and tests. */
  status(): Array<{ target: string; up: boolean; ejected: boolean; inFlight: number }> {
    return this.targets.map((t) => ({ target: t.id, up: t.checks?.up ?? true, ejected: t.passive?.ejected ?? false, inFlight: t.inFlight }));
  }

  async close(): Promise<void> {
    this.#prober?.stop();
    await Promise.all(this.targets.map((t) => t.close()));
  }
}

const isUsable = (t: UpstreamTarget): boolean => t.usable();
