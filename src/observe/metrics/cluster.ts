/**
 * Metrics across worker processes with prom-client's cluster aggregation: each worker answers the
 * supervisor's request with its registry as JSON over the cluster IPC channel, and the supervisor
 * sums them (counters, histograms and our gauges add up; prom-client's process metrics carry
 * their own aggregators, e.g. the event-loop lag is averaged).
 */
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';

/** In a worker: answer the supervisor's metric requests with `registry`. */
export function answerClusterMetrics(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's IPC listener (in a worker: the answering side).
  new AggregatorRegistry();
}

let aggregator: AggregatorRegistry<PrometheusContentType> | null = null;

/** In the supervisor: every worker's metrics, summed, as Prometheus text. */
export async function clusterMetricsText(): Promise<{ contentType: string; text: string }> {
  aggregator ??= new AggregatorRegistry();
  return { contentType: aggregator.contentType, text: await aggregator.clusterMetrics() };
}
