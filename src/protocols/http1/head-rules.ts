/**
 * Request-head rules of RFC 9112 that node's parser (llhttp, strict mode) does not enforce itself.
 * Each is a way for two HTTP implementations to disagree about where a request starts or which
 * host it is for (request smuggling, cache poisoning), so a violation is answered 400 and the
 * connection closed. llhttp already refuses the rest: CL+TE, duplicate or malformed
 * Content-Length, unknown or non-final chunked, bad chunk sizes, obs-fold, spaces in or before
 * header names, bare CR/LF, invalid methods and targets.
 */
import type { IncomingMessage } from 'node:http';

// uri-host [ ":" port ]: an IP literal, or reg-name characters (RFC 3986), possibly empty.
export const VALID_HOST = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** What one pass over the raw header list finds for the framing and host rules. */
export interface HeadScan {
  /** The first Host value ('' when none) and how many Host fields there were. */
  host: string;
  hosts: number;
  /** Content-Length as sent (the last one: node refuses differing duplicates), 0 when absent; null when chunked. */
  length: number | null;
  /** Every Transfer-Encoding value joined, or null. */
  transferEncoding: string | null;
  /** Size of the header fields as sent (names, values, ": " and CRLF). */
  fieldBytes: number;
}

/** One pass over node's raw [name, value, ...] list; names are compared by length first (the hot path). */
export function scanHead(raw: readonly string[]): HeadScan {
  let host = '';
  let hosts = 0;
  let length: number | null = 0;
  let transferEncoding: string | null = null;
  let fieldBytes = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    fieldBytes += name.length + raw[i + 1].length + 4;
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host' && hosts++ === 0) host = raw[i + 1];
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') length = Number(raw[i + 1]);
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') transferEncoding = transferEncoding === null ? raw[i + 1] : `${transferEncoding}, ${raw[i + 1]}`;
        break;
    }
  }
  if (transferEncoding !== null) length = null;
  return { host, hosts, length, transferEncoding, fieldBytes };
}

/** Host (or the absolute-form target's authority) and the origin-form target, or why the head is refused. */
export function checkHead(nreq: IncomingMessage, scan: Pick<HeadScan, 'host' | 'hosts' | 'transferEncoding'>): { authority: string; target: string } | string {
  const { host, hosts, transferEncoding } = scan;
  if (nreq.httpVersionMajor !== 1) return 'unsupported HTTP version';
  if (hosts > 1) return 'more than one Host header field';
  if (hosts === 0 && nreq.httpVersionMinor === 1) return 'missing Host header field';
  if (!VALID_HOST.test(host)) return 'invalid Host header field';
  if (transferEncoding !== null) {
    // HTTP/1.0 has no chunked framing: a Transfer-Encoding there means the framing is faulty.
    if (nreq.httpVersionMinor === 0) return 'Transfer-Encoding in an HTTP/1.0 request';
    // Without chunked as the final coding a request body has no knowable end (RFC 9112 §6.3).
    const last = transferEncoding.slice(transferEncoding.lastIndexOf(',') + 1).trim().toLowerCase();
    if (last !== 'chunked') return 'Transfer-Encoding whose final coding is not chunked';
  }
  const target = nreq.url ?? '/';
  // A fragment is never sent (RFC 9112 §3.2); one that arrives is a client or an attack.
  if (target.includes('#')) return 'fragment in the request target';
  // absolute-form ("GET http://host/path"): servers must accept it; its authority wins over Host.
  if (target.charCodeAt(0) !== 47 /* / */ && target !== '*') {
    const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(target);
    if (m !== null) {
      if (!VALID_HOST.test(m[1])) return 'invalid authority in the request target';
      const rest = m[2];
      return { authority: m[1], target: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? '/' + rest : rest };
    }
  }
  return { authority: host, target };
}
