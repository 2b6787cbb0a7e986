/**
 * The `tracing:` section: OpenTelemetry spans, one per request, exported over OTLP/HTTP (JSON).
 *
 *   tracing:
 *     endpoint: http://127.0.0.1:4318/v1/traces
 *     sample: 0.1                 # share of requests traced when no parent decided (default 1)
 *     service_name: anomaly       # resource attribute service.name
 *     headers: { authorization: "Bearer ..." }
 */
export interface TracingConfig {
  readonly endpoint: string;
  readonly sample: number;
  readonly serviceName: string;
  readonly headers: Readonly<Record<string, string>>;
}

export const tracingSchema: Record<string, unknown> = {
  type: 'object',
  additionalProperties: false,
  required: ['endpoint'],
  properties: {
    endpoint: { type: 'string', pattern: '^https?://' },
    sample: { type: 'number', minimum: 0, maximum: 1 },
    service_name: { type: 'string', minLength: 1 },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

export function normaliseTracing(raw: unknown): TracingConfig | null {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const b = raw as { endpoint?: unknown; sample?: unknown; service_name?: unknown; headers?: unknown };
  if (typeof b.endpoint !== 'string') return null;
  return {
    endpoint: b.endpoint,
    sample: typeof b.sample === 'number' ? b.sample : 1,
    serviceName: typeof b.service_name === 'string' ? b.service_name : 'anomaly',
    headers: b.headers !== null && typeof b.headers === 'object' ? (b.headers as Record<string, string>) : {},
  };
}
