/**
 * The error families of anomaly (see docs/architecture.md):
 * - HttpError: raised by handlers and helpers, carries the HTTP status sent to the client.
 * - AnomalyError: configuration and API misuse, with a stable code and a message meant for humans.
 * Protocol errors never leave the protocol layer and are not modelled here.
 */

export class HttpError extends Error {
  readonly status: number;
  /** Whether `message` may be shown to the client (true for 4xx by default). */
  readonly expose: boolean;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message?: string, options?: { expose?: boolean; headers?: Record<string, string>; cause?: unknown }) {
    super(message ?? statusText(status), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'HttpError';
    this.status = status;
    this.expose = options?.expose ?? status < 500;
    this.headers = options?.headers ?? {};
  }
}

/** Stable error codes; docs/errors.md lists the same set (a unit test keeps them in sync). */
export const ErrorCodes = {
  CONFIG_SYNTAX: 'ANOMALY_E_CONFIG_SYNTAX',
  CONFIG_INVALID: 'ANOMALY_E_CONFIG_INVALID',
  CONFIG_READ: 'ANOMALY_E_CONFIG_READ',
  CONFIG_MODULE: 'ANOMALY_E_CONFIG_MODULE',
  TLS_CERT: 'ANOMALY_E_TLS_CERT',
  LISTEN: 'ANOMALY_E_LISTEN',
  MIDDLEWARE_NEXT_TWICE: 'ANOMALY_E_MIDDLEWARE_NEXT_TWICE',
  BODY_CONSUMED: 'ANOMALY_E_BODY_CONSUMED',
} as const;
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class AnomalyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'AnomalyError';
    this.code = code;
  }
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 206: 'Partial Content',
  301: 'Moved Permanently', 302: 'Found', 303: 'See Other', 304: 'Not Modified',
  307: 'Temporary Redirect', 308: 'Permanent Redirect',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict',
  411: 'Length Required', 412: 'Precondition Failed', 413: 'Content Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 416: 'Range Not Satisfiable', 429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway',
  503: 'Service Unavailable', 504: 'Gateway Timeout',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Unknown';
}
