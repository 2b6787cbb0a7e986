/**
 * Request spans exported over OTLP/HTTP with the JSON encoding (no SDK: a span here is one object
 * built when the request completes, and a batch is one POST). W3C trace context: a `traceparent`
 * from the client makes the span its child and decides sampling; without one, `sample` does.
 * Spans wait in a bounded buffer and go out every second or every 512; when the collector is
 * slow or down, the oldest are dropped (counted), never the requests.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/logger.js';
import type { Completion } from '../../core/processor.js';
import type { Request } from '../../core/request.js';
import type { Response } from '../../core/response.js';
import type { TracingConfig } from './config.js';

type AttributeValue = { stringValue: string } | { intValue: string } | { boolValue: boolean };
interface Attribute {
  readonly key: string;
  readonly value: AttributeValue;
}
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: Attribute[];
  status: { code: number };
}

const SPAN_KIND_SERVER = 2;
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;
const BATCH = 512;
const MAX_BUFFER = 8192;
const FLUSH_MS = 1000;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-([\da-f]{16})-([\da-f]{2})$/;

const str = (key: string, value: string): Attribute => ({ key, value: { stringValue: value } });
const int = (key: string, value: number): Attribute => ({ key, value: { intValue: String(value) } });

/** ms since the epoch (fractional) → integer nanoseconds as a decimal string. */
function unixNano(ms: number): string {
  return (BigInt(Math.floor(ms * 1000)) * 1000n).toString();
}

export class OtlpTracer {
  readonly #config: TracingConfig;
  readonly #logger: Logger;
  readonly #resource: Attribute[];
  #buffer: Span[] = [];
  #timer: NodeJS.Timeout;
  #sending: Promise<void> = Promise.resolve();
  #dropped = 0;
  #failing = false;
  exported = 0;

  constructor(config: TracingConfig, logger: Logger, attributes: Record<string, string> = {}) {
    this.#config = config;
    this.#logger = logger;
    this.#resource = [str('service.name', config.serviceName), ...Object.entries(attributes).map(([k, v]) => str(k, v))];
    this.#timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.#timer.unref();
  }

  /** The CompletionListener. */
  readonly completed = (req: Request, _res: Response | null, done: Completion): void => {
    const parent = req.headers.get('traceparent');
    const m = parent === undefined ? null : TRACEPARENT.exec(parent);
    if (m !== null) {
      if ((parseInt(m[3], 16) & 1) === 0) return; // the caller decided not to sample
    } else if (this.#config.sample < 1 && Math.random() >= this.#config.sample) return;
    const end = performance.timeOrigin + performance.now();
    const start = performance.timeOrigin + req.startedAt;
    const attributes = [
      str('http.request.method', req.method),
      str('url.path', req.path),
      str('url.scheme', req.scheme),
      str('server.address', req.host),
      str('network.protocol.version', req.protocol === 'h1' ? '1.1' : req.protocol === 'h2' ? '2' : '3'),
      str('client.address', req.conn.remoteAddress),
      int('http.response.status_code', done.status),
      int('http.response.body.size', done.bytes),
    ];
    if (req.route !== null) attributes.push(str('http.route', req.route));
    const tag = req.tag;
    if (tag !== null) {
      attributes.push(str('anomaly.site', tag.site), str('anomaly.handler', tag.handler));
      if (tag.tenant !== null) attributes.push(str('anomaly.tenant', tag.tenant));
      if (tag.engine !== null) attributes.push(str('anomaly.app.engine', tag.engine));
    }
    if (done.error !== undefined) attributes.push(str('error.type', done.error.message));
    const span: Span = {
      traceId: m !== null ? m[1] : randomBytes(16).toString('hex'),
      spanId: randomBytes(8).toString('hex'),
      name: req.route !== null ? `${req.method} ${req.route}` : req.method,
      kind: SPAN_KIND_SERVER,
      startTimeUnixNano: unixNano(start),
      endTimeUnixNano: unixNano(end),
      attributes,
      status: { code: done.status >= 500 || done.error !== undefined ? STATUS_ERROR : STATUS_UNSET },
    };
    if (m !== null) span.parentSpanId = m[2];
    if (this.#buffer.length >= MAX_BUFFER) {
      this.#buffer.shift();
      this.#dropped++;
    }
    this.#buffer.push(span);
    if (this.#buffer.length >= BATCH) void this.flush();
  };

  /** Sends what is buffered (one POST per batch); resolves when sent or failed. */
  flush(): Promise<void> {
    this.#sending = this.#sending.then(() => this.#send());
    return this.#sending;
  }

  async #send(): Promise<void> {
    while (this.#buffer.length > 0) {
      const spans = this.#buffer.splice(0, BATCH);
      const body = JSON.stringify({
        resourceSpans: [{ resource: { attributes: this.#resource }, scopeSpans: [{ scope: { name: 'anomaly' }, spans }] }],
      });
      try {
        const res = await fetch(this.#config.endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...this.#config.headers },
          body,
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        this.exported += spans.length;
        if (this.#failing) this.#logger.info({ endpoint: this.#config.endpoint }, 'tracing: the OTLP endpoint accepts spans again');
        this.#failing = false;
      } catch (err) {
        this.#dropped += spans.length;
        if (!this.#failing) this.#logger.warn({ endpoint: this.#config.endpoint, err: (err as Error).message }, 'tracing: spans could not be exported; dropping them until the endpoint answers');
        this.#failing = true;
        return;
      }
    }
  }

  get dropped(): number {
    return this.#dropped;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
