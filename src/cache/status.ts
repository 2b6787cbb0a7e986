import type { Response } from '../core/response.js';

/**
 * The Cache-Status field (RFC 9211): one list member per cache, closest to the origin first, so
 * ours is appended to whatever the upstream sent.
 */
export type ForwardReason = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'miss' | 'request' | 'stale';

export interface StatusParams {
  readonly hit?: boolean;
  readonly fwd?: ForwardReason;
  readonly fwdStatus?: number;
  /** Remaining freshness in seconds (negative when stale). */
  readonly ttl?: number;
  readonly stored?: boolean;
  readonly collapsed?: boolean;
  readonly detail?: string;
}

export function cacheStatusValue(name: string, p: StatusParams): string {
  let v = name;
  if (p.hit === true) v += '; hit';
  if (p.fwd !== undefined) v += '; fwd=' + p.fwd;
  if (p.fwdStatus !== undefined) v += '; fwd-status=' + p.fwdStatus;
  if (p.ttl !== undefined) v += '; ttl=' + p.ttl;
  if (p.stored === true) v += '; stored';
  if (p.collapsed === true) v += '; collapsed';
  if (p.detail !== undefined) v += '; detail=' + p.detail;
  return v;
}

/** Appends our member to the response's Cache-Status (copying frozen headers). */
export function addCacheStatus(res: Response, value: string): Response {
  const prev = res.headers['cache-status'];
  res.set('cache-status', prev === undefined ? value : (typeof prev === 'string' ? prev : prev.join(', ')) + ', ' + value);
  return res;
}
