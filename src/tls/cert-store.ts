import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { AnomalyError, ErrorCodes } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { ensureLocalCA, type LocalCA } from './local-ca.js';
import { canonicalNameSet, normalizeHostname, parentDomain, wildcardBase } from './names.js';
import { MIN_TLS_VERSION, MODERN_CIPHERS } from './policy.js';

/** What the store needs to know about a site (a subset of the config's site). */
export interface SiteTlsSpec {
  readonly hosts: readonly string[];
  /** Absolute paths of the user's PEM files, or null for a certificate from the local CA. */
  readonly tls: { readonly cert: string; readonly key: string } | null;
}

export type CertSource = 'file' | 'local-ca';

/** The shape of node's `SNICallback` option. */
export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

/** Names the default certificate covers when it comes from the local CA. */
export const DEFAULT_LOCAL_NAMES: readonly string[] = ['localhost', '127.0.0.1', '::1'];

/** Key under which describe() reports the default certificate. */
export const DEFAULT_ENTRY_NAME = '(default)';

interface Credential {
  readonly context: tls.SecureContext;
  readonly source: CertSource;
  readonly cert: string;
  readonly key: string;
}

/**
 * Server certificates by SNI name. Every secure context is created once, at build time; a handshake
 * costs one or two Map lookups: the exact name, then the single wildcard that can match it
 * (a wildcard covers one label, so "a.b.example.com" can only match "*.b.example.com"), then the default.
 *
 * It also carries `cert`, `key` and `sniCallback`, so it can be handed to the listener as its TLS credentials.
 */
export class CertStore {
  /** Context for clients that send no SNI or an unknown name. */
  readonly defaultContext: tls.SecureContext;
  /** PEM chain of the default certificate (for a server's initial options). */
  readonly cert: string;
  /** PEM key of the default certificate. */
  readonly key: string;
  /** The local CA certificate users should trust, when the local CA issued any certificate; else null. */
  readonly localCaPath: string | null;
  /** Ready to pass as node's `SNICallback`. */
  readonly sniCallback: SniCallback;

  readonly #exact: ReadonlyMap<string, Credential>;
  readonly #wildcard: ReadonlyMap<string, Credential>;
  readonly #default: Credential;

  private constructor(exact: Map<string, Credential>, wildcard: Map<string, Credential>, fallback: Credential, localCaPath: string | null) {
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = fallback;
    this.defaultContext = fallback.context;
    this.cert = fallback.cert;
    this.key = fallback.key;
    this.localCaPath = localCaPath;
    this.sniCallback = (servername, cb) => cb(null, this.secureContextFor(servername));
  }

  /**
   * Loads the user's certificate files and issues local CA certificates for the other sites.
   * The local CA (under `<dataDir>/pki/`) is only created when some site needs it.
   * Throws AnomalyError(TLS_CERT) naming the file when a certificate or key cannot be used.
   */
  static async build(sites: ReadonlyArray<SiteTlsSpec>, dataDir: string, logger: Logger): Promise<CertStore> {
    const log = logger.child({ component: 'tls' });
    const defaultSite = sites.find((s) => s.hosts.length === 0);
    const needsLocalCa = sites.length === 0 || sites.some((s) => s.tls === null);
    const ca = needsLocalCa ? await ensureLocalCA(dataDir) : null;
    if (ca !== null) log.debug({ ca: ca.certPath }, 'local development CA ready');

    // Sites sharing files or host sets share one secure context.
    const fromFiles = new Map<string, Promise<Credential>>();
    const fromCa = new Map<string, Promise<Credential>>();
    const credentialFor = (site: SiteTlsSpec, hosts: readonly string[]): Promise<Credential> => {
      if (site.tls !== null) {
        const id = `${site.tls.cert}\0${site.tls.key}`;
        let pending = fromFiles.get(id);
        if (pending === undefined) {
          pending = loadFileCredential(site.tls.cert, site.tls.key, site.hosts, log);
          fromFiles.set(id, pending);
        }
        return pending;
      }
      const localCa = ca as LocalCA; // present whenever a site has no tls
      const id = canonicalNameSet(hosts).join('\n');
      let pending = fromCa.get(id);
      if (pending === undefined) {
        pending = issueCredential(localCa, hosts);
        fromCa.set(id, pending);
      }
      return pending;
    };

    const named = sites.filter((s) => s.hosts.length > 0);
    const defaultPending: Promise<Credential> | undefined =
      defaultSite !== undefined
        ? credentialFor(defaultSite, DEFAULT_LOCAL_NAMES)
        : ca !== null
          ? credentialFor({ hosts: [], tls: null }, DEFAULT_LOCAL_NAMES)
          : undefined;
    // Start every load/issue before awaiting any, so they overlap; a failure still surfaces (in site order).
    const pendings = named.map((s) => credentialFor(s, s.hosts));
    const settled = await Promise.allSettled([...pendings, ...(defaultPending ? [defaultPending] : [])]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const credentials = await Promise.all(pendings);

    const exact = new Map<string, Credential>();
    const wildcard = new Map<string, Credential>();
    named.forEach((site, i) => {
      for (const host of site.hosts) {
        const name = normalizeHostname(host);
        const base = wildcardBase(name);
        const map = base === null ? exact : wildcard;
        const key = base ?? name;
        if (map.has(key)) {
          log.warn({ host: name }, 'host appears in more than one site; the first site’s certificate is used');
          continue;
        }
        map.set(key, credentials[i]);
      }
    });
    // Without a default site or local CA, the first site's certificate is the default (like nginx's first server).
    const fallback = defaultPending !== undefined ? await defaultPending : credentials[0];
    return new CertStore(exact, wildcard, fallback, ca?.certPath ?? null);
  }

  /** Exact name, then the wildcard covering it, then the default; case-insensitive. */
  secureContextFor(servername: string | undefined): tls.SecureContext {
    if (servername) {
      let name = servername.toLowerCase();
      if (name.endsWith('.')) name = name.slice(0, -1);
      const exact = this.#exact.get(name);
      if (exact !== undefined) return exact.context;
      const parent = parentDomain(name);
      if (parent !== null) {
        const wild = this.#wildcard.get(parent);
        if (wild !== undefined) return wild.context;
      }
    }
    return this.#default.context;
  }

  /** Names served and where their certificate comes from, for logs; the default is under "(default)". */
  describe(): Record<string, CertSource> {
    const out: Record<string, CertSource> = {};
    for (const [name, c] of this.#exact) out[name] = c.source;
    for (const [base, c] of this.#wildcard) out[`*.${base}`] = c.source;
    out[DEFAULT_ENTRY_NAME] = this.#default.source;
    return out;
  }
}

function createContext(cert: string, key: string): tls.SecureContext {
  // Node's default cipher list and curves are modern; only the protocol floor is raised.
  return tls.createSecureContext({ cert, key, minVersion: MIN_TLS_VERSION, ciphers: MODERN_CIPHERS, honorCipherOrder: true });
}

async function issueCredential(ca: LocalCA, hosts: readonly string[]): Promise<Credential> {
  const issued = await ca.issue(hosts);
  return { context: createContext(issued.cert, issued.key), source: 'local-ca', cert: issued.cert, key: issued.key };
}

async function loadFileCredential(certPath: string, keyPath: string, hosts: readonly string[], log: Logger): Promise<Credential> {
  const site = hosts.length === 0 ? 'the default site' : `site ${hosts.join(', ')}`;
  const cert = await readPem(certPath, 'certificate', site);
  const key = await readPem(keyPath, 'key', site);

  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch (err) {
    throw new AnomalyError(ErrorCodes.TLS_CERT, `the TLS certificate file "${certPath}" (${site}) does not contain a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  let context: tls.SecureContext;
  try {
    context = createContext(cert, key);
  } catch (err) {
    throw new AnomalyError(
      ErrorCodes.TLS_CERT,
      `the TLS key file "${keyPath}" cannot be used with the certificate "${certPath}" (${site}): ${(err as Error).message}`,
      { cause: err },
    );
  }

  // Problems a browser would report: worth a warning at start-up, not a refusal to start.
  if (Date.parse(leaf.validTo) < Date.now()) {
    log.warn({ file: certPath, validTo: leaf.validTo }, 'TLS certificate has expired');
  }
  for (const host of hosts) {
    if (!certificateCovers(leaf, normalizeHostname(host))) {
      log.warn({ file: certPath, host }, 'TLS certificate does not cover this host name');
    }
  }
  return { context, source: 'file', cert, key };
}

function certificateCovers(cert: X509Certificate, name: string): boolean {
  const base = wildcardBase(name);
  // A wildcard host is covered when any name under it would be: probe with one made-up label.
  const probe = base === null ? name : `anomaly-probe.${base}`;
  return (isIP(probe) === 0 ? cert.checkHost(probe) : cert.checkIP(probe)) !== undefined;
}

async function readPem(path: string, what: 'certificate' | 'key', site: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new AnomalyError(ErrorCodes.TLS_CERT, `cannot read the TLS ${what} file "${path}" (${site}): ${reason}`, { cause: err });
  }
}
