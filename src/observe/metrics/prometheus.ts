/**
 * The Prometheus registry of one server process (prom-client). Request figures come from the
 * RequestMetrics slots, everything else (connections, TLS, app pools, upstream health) is read
 * from the server when scraped, and prom-client's default metrics add event-loop lag, memory, GC
 * and CPU. With worker processes, the supervisor sums the workers' registries (cluster.ts).
 */
import { collectDefaultMetrics, Registry, type Metric } from 'prom-client';
import type { RouteReport } from '../../server/dispatcher.js';
import type { ServerStatus } from '../../server/server.js';
import { LATENCY_BUCKETS, protocolName, RequestMetrics, type RouteLabels, type RouteSlot } from './requests.js';

/** What the registry reads from the running server when scraped. */
export interface MetricsSource {
  status(): ServerStatus;
  routes(): RouteReport[];
}

type Labels = Record<string, string>;
interface Sample {
  readonly labels: Labels;
  readonly value: number;
  readonly metricName?: string;
}
type MetricKind = 'counter' | 'gauge' | 'histogram';

/**
 * A metric whose samples are computed when scraped. prom-client's own Counter/Histogram hash their
 * label values on every inc(); these read plain numbers the request path already added up.
 */
function computed(registry: Registry, name: string, help: string, type: MetricKind, samples: () => Sample[]): void {
  const metric = {
    name,
    help,
    type,
    aggregator: 'sum',
    collect: () => {},
    get: async () => ({ name, help, type, aggregator: 'sum', values: samples() }),
  };
  registry.registerMetric(metric as unknown as Metric);
}

const routeLabels = (l: RouteLabels): Labels => ({ tenant: l.tenant, site: l.site, route: l.route, handler: l.handler, language: l.language });

interface AppReport {
  readonly engine: string;
  readonly file: string;
  readonly pool: { size: number; busy: number; free: number; loading: number; queued: number };
  readonly stats: {
    requests: number;
    errors: Record<string, number>;
    rejected: number;
    replaced: number;
    reloads: number;
    reloadFailures: number;
  };
}
interface ProxyReport {
  readonly upstream: string;
  readonly targets: ReadonlyArray<{ target: string; up: boolean; ejected: boolean; inFlight: number }>;
}

export class PrometheusMetrics {
  readonly registry = new Registry();
  readonly requests = new RequestMetrics();
  #source: MetricsSource | null = null;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    this.#requestMetrics();
    this.#serverMetrics();
  }

  /** The server to read connection, app and upstream figures from (set once it exists). */
  attach(source: MetricsSource): void {
    this.#source = source;
  }

  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  #requestMetrics(): void {
    const reg = this.registry;
    const each = <T>(f: (slot: RouteSlot, out: T[]) => void) => (): T[] => {
      const out: T[] = [];
      for (const slot of this.requests.slots()) f(slot, out);
      return out;
    };
    computed(reg, 'anomaly_requests_total', 'Finished requests by tenant, site, route, handler, app language, protocol and status.', 'counter', each<Sample>((slot, out) => {
      for (const [key, value] of slot.requests) out.push({ labels: { ...routeLabels(slot.labels), protocol: protocolName(key), status: String(key % 1000) }, value });
    }));
    computed(reg, 'anomaly_request_duration_seconds', 'Time from the complete request head to the end of the response, by route and app language.', 'histogram', each<Sample>((slot, out) => {
      if (slot.durationCount === 0) return;
      const labels = routeLabels(slot.labels);
      let cumulative = 0;
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        cumulative += slot.buckets[i];
        out.push({ labels: { ...labels, le: String(LATENCY_BUCKETS[i]) }, value: cumulative, metricName: 'anomaly_request_duration_seconds_bucket' });
      }
      out.push({ labels: { ...labels, le: '+Inf' }, value: slot.durationCount, metricName: 'anomaly_request_duration_seconds_bucket' });
      out.push({ labels, value: slot.durationSum, metricName: 'anomaly_request_duration_seconds_sum' });
      out.push({ labels, value: slot.durationCount, metricName: 'anomaly_request_duration_seconds_count' });
    }));
    computed(reg, 'anomaly_response_bytes_total', 'Response body bytes sent.', 'counter', each<Sample>((slot, out) => {
      if (slot.durationCount > 0) out.push({ labels: routeLabels(slot.labels), value: slot.bytesOut });
    }));
    computed(reg, 'anomaly_request_bytes_total', 'Request body bytes received (as declared by Content-Length).', 'counter', each<Sample>((slot, out) => {
      if (slot.durationCount > 0) out.push({ labels: routeLabels(slot.labels), value: slot.bytesIn });
    }));
    computed(reg, 'anomaly_responses_aborted_total', 'Responses not sent completely (client gone, stream reset).', 'counter', each<Sample>((slot, out) => {
      if (slot.aborted > 0) out.push({ labels: routeLabels(slot.labels), value: slot.aborted });
    }));
    computed(reg, 'anomaly_cache_responses_total', 'Responses of routes with a cache, by result: hit, miss, stale (served stale or revalidated), pass.', 'counter', each<Sample>((slot, out) => {
      const total = slot.cacheHit + slot.cacheMiss + slot.cacheStale + slot.cachePass;
      if (total === 0) return;
      const labels = routeLabels(slot.labels);
      out.push({ labels: { ...labels, result: 'hit' }, value: slot.cacheHit });
      out.push({ labels: { ...labels, result: 'miss' }, value: slot.cacheMiss });
      out.push({ labels: { ...labels, result: 'stale' }, value: slot.cacheStale });
      out.push({ labels: { ...labels, result: 'pass' }, value: slot.cachePass });
    }));
  }

  #serverMetrics(): void {
    const reg = this.registry;
    const status = (): ServerStatus | null => this.#source?.status() ?? null;
    computed(reg, 'anomaly_connections', 'Open client connections by protocol.', 'gauge', () => {
      const s = status();
      if (s === null) return [];
      return Object.entries(s.connections.byProtocol).map(([protocol, value]) => ({ labels: { protocol }, value }));
    });
    computed(reg, 'anomaly_connections_accepted_total', 'Client connections accepted.', 'counter', () => {
      const s = status();
      return s === null ? [] : [{ labels: {}, value: s.accepted }];
    });
    computed(reg, 'anomaly_tls_handshakes_total', 'TLS handshakes by result.', 'counter', () => {
      const s = status();
      return s === null ? [] : [{ labels: { result: 'ok' }, value: s.tls.handshakes }, { labels: { result: 'failed' }, value: s.tls.failures }];
    });
    computed(reg, 'anomaly_config_reloads_total', 'Configuration reloads applied.', 'counter', () => {
      const s = status();
      return s === null ? [] : [{ labels: {}, value: s.reloads }];
    });

    const apps = (): Array<{ labels: Labels; app: AppReport }> =>
      (this.#source?.routes() ?? [])
        .filter((r) => r.tag.handler === 'app' && r.status !== null)
        .map((r) => ({ labels: { tenant: r.tag.tenant ?? '', site: r.tag.site, route: r.tag.route, language: r.tag.engine ?? '' }, app: r.status as AppReport }));
    computed(reg, 'anomaly_app_instances', 'App runtime instances by state (busy, free, loading) and requests queued for one.', 'gauge', () =>
      apps().flatMap(({ labels, app }) => [
        { labels: { ...labels, state: 'size' }, value: app.pool.size },
        { labels: { ...labels, state: 'busy' }, value: app.pool.busy },
        { labels: { ...labels, state: 'free' }, value: app.pool.free },
        { labels: { ...labels, state: 'loading' }, value: app.pool.loading },
        { labels: { ...labels, state: 'queued' }, value: app.pool.queued },
      ]),
    );
    computed(reg, 'anomaly_app_errors_total', 'App calls that failed, by kind (deadline = timeout, memory, exception, response, load).', 'counter', () =>
      apps().flatMap(({ labels, app }) => Object.entries(app.stats.errors).map(([kind, value]) => ({ labels: { ...labels, kind }, value }))),
    );
    computed(reg, 'anomaly_app_rejected_total', 'App requests answered 503 because no instance became free in time.', 'counter', () =>
      apps().map(({ labels, app }) => ({ labels, value: app.stats.rejected })),
    );
    computed(reg, 'anomaly_app_reloads_total', 'App hot reloads by result.', 'counter', () =>
      apps().flatMap(({ labels, app }) => [
        { labels: { ...labels, result: 'ok' }, value: app.stats.reloads },
        { labels: { ...labels, result: 'failed' }, value: app.stats.reloadFailures },
      ]),
    );
    computed(reg, 'anomaly_app_instances_replaced_total', 'App instances replaced after they broke (memory, deadline).', 'counter', () =>
      apps().map(({ labels, app }) => ({ labels, value: app.stats.replaced })),
    );

    const upstreams = (): Map<string, ProxyReport> => {
      const byName = new Map<string, ProxyReport>();
      for (const r of this.#source?.routes() ?? []) if (r.tag.handler === 'proxy' && r.status !== null) byName.set((r.status as ProxyReport).upstream, r.status as ProxyReport);
      return byName;
    };
    computed(reg, 'anomaly_upstream_up', 'Upstream targets usable (1) or down by health check or ejected (0); summed over worker processes.', 'gauge', () =>
      [...upstreams().values()].flatMap((u) => u.targets.map((t) => ({ labels: { upstream: u.upstream, target: t.target }, value: t.up && !t.ejected ? 1 : 0 }))),
    );
    computed(reg, 'anomaly_upstream_in_flight', 'Requests in flight to each upstream target.', 'gauge', () =>
      [...upstreams().values()].flatMap((u) => u.targets.map((t) => ({ labels: { upstream: u.upstream, target: t.target }, value: t.inFlight }))),
    );
  }
}
