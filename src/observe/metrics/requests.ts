/**
 * Per-request metrics on the hot path. Each finished request adds a few numbers to the slot of
 * its route (resolved once per route per config version through RouteTag.slot): no label strings
 * are built and no hashes computed per request. prom-client reads the slots when scraped (see
 * PrometheusMetrics), so the text format, the registry and the cluster aggregation are its own.
 */
import type { Completion } from '../../core/processor.js';
import type { Request, RouteTag } from '../../core/request.js';
import type { Response } from '../../core/response.js';

/** Latency buckets, seconds (upper bounds; +Inf is implied). */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const PROTOCOLS = ['h1', 'h2', 'h3'] as const;
type ProtocolIndex = 0 | 1 | 2;

/** Labels identifying a route across config versions (tenant, site, route, handler, language). */
export interface RouteLabels {
  readonly tenant: string;
  readonly site: string;
  readonly route: string;
  readonly handler: string;
  /** App engine for app routes ("quickjs", "fengari", ...), "" otherwise. */
  readonly language: string;
}

/** Accumulated figures of one route; survives reloads (found again by its labels). */
export class RouteSlot {
  readonly labels: RouteLabels;
  /** Requests by protocol index × status: key protocol * 1000 + status. */
  readonly requests = new Map<number, number>();
  /** Non-cumulative counts per latency bucket; the last one is +Inf. */
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  durationSum = 0;
  durationCount = 0;
  bytesOut = 0;
  bytesIn = 0;
  cacheHit = 0;
  cacheMiss = 0;
  cacheStale = 0;
  /** Requests the cache passed through without looking (bypass, method, request no-store). */
  cachePass = 0;
  /** Responses not sent completely (client gone, stream error). */
  aborted = 0;

  constructor(labels: RouteLabels) {
    this.labels = labels;
  }
}

const UNMATCHED: RouteLabels = { tenant: '', site: '', route: '', handler: '', language: '' };

export class RequestMetrics {
  readonly #slots = new Map<string, RouteSlot>();
  /** Requests no route matched (unknown host, 404, 405, 400). */
  readonly #unmatched: RouteSlot;

  constructor() {
    this.#unmatched = this.#slotFor(UNMATCHED);
  }

  /** The CompletionListener: called once per finished request. */
  readonly completed = (req: Request, res: Response | null, done: Completion): void => {
    const tag = req.tag;
    let slot: RouteSlot;
    if (tag === null) slot = this.#unmatched;
    else {
      const cached = tag.slot;
      slot = cached instanceof RouteSlot ? cached : this.#resolve(tag);
    }
    const proto: ProtocolIndex = req.protocol === 'h1' ? 0 : req.protocol === 'h2' ? 1 : 2;
    const key = proto * 1000 + done.status;
    slot.requests.set(key, (slot.requests.get(key) ?? 0) + 1);
    const seconds = (performance.now() - req.startedAt) / 1000;
    const buckets = LATENCY_BUCKETS;
    let b = 0;
    while (b < buckets.length && seconds > buckets[b]) b++;
    slot.buckets[b]++;
    slot.durationSum += seconds;
    slot.durationCount++;
    slot.bytesOut += done.bytes;
    const declared = req.body.length;
    if (declared !== null) slot.bytesIn += declared;
    if (done.error !== undefined) slot.aborted++;
    if (res !== null) {
      const cacheStatus = res.headers['cache-status'];
      if (cacheStatus !== undefined) countCache(slot, typeof cacheStatus === 'string' ? cacheStatus : cacheStatus.join(', '));
    }
  };

  #resolve(tag: RouteTag): RouteSlot {
    const slot = this.#slotFor({ tenant: tag.tenant ?? '', site: tag.site, route: tag.route, handler: tag.handler, language: tag.engine ?? '' });
    tag.slot = slot;
    return slot;
  }

  #slotFor(labels: RouteLabels): RouteSlot {
    const key = `${labels.tenant}\0${labels.site}\0${labels.route}\0${labels.handler}\0${labels.language}`;
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = new RouteSlot(labels);
      this.#slots.set(key, slot);
    }
    return slot;
  }

  slots(): IterableIterator<RouteSlot> {
    return this.#slots.values();
  }
}

/** Our Cache-Status member is the last one (RFC 9211: closest to the client last). */
function countCache(slot: RouteSlot, value: string): void {
  const ours = value.slice(value.lastIndexOf(',') + 1);
  if (ours.includes('; hit')) {
    if (ours.includes('ttl=-')) slot.cacheStale++;
    else slot.cacheHit++;
  } else if (ours.includes('fwd=stale')) slot.cacheStale++;
  else if (ours.includes('miss')) slot.cacheMiss++;
  else if (ours.includes('fwd=')) slot.cachePass++;
}

export function protocolName(key: number): string {
  return PROTOCOLS[Math.floor(key / 1000)] ?? 'h1';
}
