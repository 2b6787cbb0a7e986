/**
 * The Runtime contract: how anomaly runs application code written in another language.
 * One adapter per engine implements `Runtime`; the app handler (src/handlers/app) owns pools,
 * hot reload and HTTP concerns, and every engine passes the same contract suite
 * (tests/unit/runtimes/contract.ts).
 *
 * Marshalling is the performance-critical part: the host hands the guest a pre-parsed request
 * (GuestRequest) and gets back a plain answer (GuestResponse); each engine picks the fastest way
 * to move these across its boundary and documents the measurement beside its adapter.
 */

/** A request as the guest sees it: already parsed, body already read (bounded by the site's max_body). */
export interface GuestRequest {
  readonly method: string;
  /** Path as sent (percent-encoded), without the query. */
  readonly path: string;
  readonly rawQuery: string;
  /** Parsed once by the host: name -> values in order. */
  readonly query: ReadonlyMap<string, readonly string[]>;
  /** Lower-case names -> values in order. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
  /**
   * The same fields as received, flat [name, value, name, value, ...]: names in any case, HTTP/2
   * and HTTP/3 pseudo-headers (":path") included. Optional: an engine that writes its own wire
   * format may read this instead of `headers` and skip building a map per request.
   */
  readonly rawHeaders?: readonly string[];
  readonly cookies: ReadonlyMap<string, string>;
  /** Route parameters of the mount (":id"), percent-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly protocol: 'h1' | 'h2' | 'h3';
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly remoteAddress: string;
  /** The whole body; empty when there was none. Engines should expose it without copying where they can. */
  readonly body: Uint8Array;
}

/** What a guest handler answers. A string body is UTF-8 encoded by the host. */
export interface GuestResponse {
  status: number;
  headers: Array<[string, string]>;
  body: string | Uint8Array | null;
}

/**
 * The header lists of text() and json() answers, frozen and shared so engines need not build one per
 * response. The host recognises any list holding just one of these content-types (by value) and
 * answers with headers it checked once (src/handlers/app/marshal.ts).
 */
export const TEXT_HEADERS = Object.freeze([Object.freeze(['content-type', 'text/plain; charset=utf-8'])]) as unknown as Array<[string, string]>;
export const JSON_HEADERS = Object.freeze([Object.freeze(['content-type', 'application/json'])]) as unknown as Array<[string, string]>;

export interface RuntimeLimits {
  /** Wall/CPU time one call may take before it is interrupted (504). */
  readonly deadlineMs: number;
  /** Memory the engine may use, where the engine can enforce it (bytes). */
  readonly memoryBytes: number;
  /** Guest stack size, where the engine can enforce it (bytes). */
  readonly stackBytes: number;
  /** Largest response body a guest may return (bytes); over it: 500. */
  readonly maxResponseBytes: number;
}

export const DEFAULT_LIMITS: RuntimeLimits = {
  deadlineMs: 5_000,
  memoryBytes: 64 * 1024 * 1024,
  stackBytes: 1024 * 1024,
  maxResponseBytes: 16 * 1024 * 1024,
};

/** Where the app comes from: its file (for messages and relative imports) and its text. */
export interface AppSource {
  readonly file: string;
  readonly code: string;
}

/** Why a call failed; the app handler maps kinds to statuses (500, 503, 504) and logs the message. */
export type GuestErrorKind = 'load' | 'exception' | 'deadline' | 'memory' | 'response';

export class GuestError extends Error {
  readonly kind: GuestErrorKind;
  /** Source position in the guest's file, when the engine knows it. */
  readonly file: string | null;
  readonly line: number | null;

  constructor(kind: GuestErrorKind, message: string, where?: { file?: string | null; line?: number | null }, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'GuestError';
    this.kind = kind;
    this.file = where?.file ?? null;
    this.line = where?.line ?? null;
  }
}

export interface RuntimeStats {
  calls: number;
  errors: number;
  deadlines: number;
  /** Sum of call durations, ms (for the mean). */
  totalMs: number;
}

/**
 * One loaded version of an app in one engine instance. Calls may overlap when the guest handler is
 * async; an instance that hit its memory limit or deadline may declare itself `broken` so the pool
 * replaces it.
 */
export interface AppInstance {
  handle(req: GuestRequest): Promise<GuestResponse>;
  /**
   * The same call, answered before it returns when the engine has the answer by then: always for
   * engines that run a call to completion on the calling thread, their own deadline interrupting it
   * (QuickJS, wasmoon, fengari); for Java when the call finished within its short wait, else a
   * promise. Errors are thrown (or, for a promise, rejected) as handle() would reject. The host then
   * skips handle()'s promises and its watchdog for the synchronous answers (a host timer could not
   * fire during a synchronous call anyway): ≈2-3 µs of a small request's CPU.
   */
  handleNow?(req: GuestRequest): GuestResponse | Promise<GuestResponse>;
  readonly broken: boolean;
  readonly stats: Readonly<RuntimeStats>;
  dispose(): void;
}

/** handle() for engines whose real entry is handleNow: its answer or throw as a promise. */
export function handleThroughNow(inst: { handleNow(req: GuestRequest): GuestResponse | Promise<GuestResponse> }, req: GuestRequest): Promise<GuestResponse> {
  try {
    return Promise.resolve(inst.handleNow(req));
  } catch (err) {
    return Promise.reject(err);
  }
}

export interface Runtime {
  /** Engine id as used in config (`engine: quickjs`). */
  readonly id: string;
  /** File extensions this engine is inferred from (".js", ".lua"). */
  readonly extensions: readonly string[];
  /** Compiles and initialises the app; a syntax or top-level error rejects with GuestError('load'). */
  load(source: AppSource, limits: RuntimeLimits): Promise<AppInstance>;
}
