import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';

/** How long clients may remember the alternative (RFC 7838 "ma", seconds). */
const MAX_AGE = 86_400;
const CACHE_LIMIT = 1024;

/**
 * The alt-svc value for HTTP/1.1 and HTTP/2 responses, per request host: advertised only for hosts
 * the certificate HTTP/3 serves covers (quiche serves one certificate, see docs/http3.md); a client
 * of another host would get a certificate for another name and mark HTTP/3 broken.
 */
export function altSvcFor(certPem: string, port: number): (host: string) => string | null {
  const value = `h3=":${port}"; ma=${MAX_AGE}`;
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    return () => value;
  }
  // Host is client-chosen: the cache is bounded (cleared when full).
  const covered = new Map<string, boolean>();
  return (host) => {
    if (host === '') return value;
    let ok = covered.get(host);
    if (ok === undefined) {
      const name = host.charCodeAt(0) === 91 /* [ */ ? host.slice(1, -1) : host;
      ok = (isIP(name) === 0 ? cert.checkHost(name) : cert.checkIP(name)) !== undefined;
      if (covered.size >= CACHE_LIMIT) covered.clear();
      covered.set(host, ok);
    }
    return ok ? value : null;
  };
}
