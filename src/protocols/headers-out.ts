/**
 * A field value the server adds to responses: fixed, or computed from the request's host (null: not
 * sent), as alt-svc is only advertised for hosts HTTP/3's certificate covers.
 */
export type ExtraValue = string | ((host: string) => string | null);

/** Extra response fields added by the server (alt-svc, server). */
export type ExtraHeaders = ReadonlyArray<readonly [string, ExtraValue]>;

export function extraValue(value: ExtraValue, host: string): string | null {
  return typeof value === 'string' ? value : value(host);
}

/** Connection-specific fields that HTTP/2 and HTTP/3 forbid (RFC 9113 §8.2.2); dropped when present. */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
