/** Extra response fields added by the server (alt-svc, server), identical for every response of a listener. */
export type ExtraHeaders = ReadonlyArray<readonly [string, string]>;

/** Connection-specific fields that HTTP/2 and HTTP/3 forbid (RFC 9113 §8.2.2); dropped when present. */
export const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
