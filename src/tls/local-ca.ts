import { X509Certificate as NodeX509, createHash, createPrivateKey, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AnomalyError, ErrorCodes } from '../core/errors.js';
import { createFileExclusive, replaceFile } from './atomic-file.js';
import { canonicalNameSet, sanFor, wildcardBase } from './names.js';

/**
 * @peculiar/x509 (with its ASN.1 and DI dependencies) takes ~120 ms to import; it is only needed to
 * create certificates, so restarts that find everything cached on disk never load it.
 */
const loadX509 = (): Promise<typeof import('./x509.js')> => import('./x509.js');

/**
 * A local development certificate authority, in the spirit of Caddy's "local HTTPS": one long-lived
 * root created on first use under `<dataDir>/pki/`, which signs short-lived leaf certificates for
 * the sites that have no certificate of their own. Users trust the root once.
 */

export const LOCAL_CA_NAME = 'anomaly Local Development CA';
export const CA_CERT_FILE = 'anomaly-local-ca.pem';
export const CA_KEY_FILE = 'anomaly-local-ca.key';
/** The root lives long so that users trust it once. */
export const CA_VALIDITY_DAYS = 3650;
/** A root this close to expiry is replaced by a new one (users then have to trust the new one). */
export const CA_RENEW_BEFORE_DAYS = 30;
/** Leaves are reused across restarts, so they live longer than Caddy's 7 days... */
export const LEAF_VALIDITY_DAYS = 90;
/** ...and are re-issued when less than this remains. */
export const LEAF_RENEW_BEFORE_DAYS = 7;
/** Backdating absorbs clock differences between this machine and its clients. */
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const EC_SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface IssuedCertificate {
  /** PEM chain to serve: the leaf, then the local CA certificate. */
  readonly cert: string;
  /** PEM private key of the leaf (PKCS#8). */
  readonly key: string;
}

export interface LocalCA {
  /** Absolute path of the root certificate (PEM) that users add to their trust stores. */
  readonly certPath: string;
  readonly certPem: string;
  /** A leaf certificate for these DNS names (wildcards allowed) and IP addresses; cached on disk. */
  issue(hostnames: readonly string[]): Promise<IssuedCertificate>;
}

export interface LocalCAOptions {
  /** Clock, injectable for tests. */
  readonly now?: () => Date;
}

/** Creates the local CA in `<dir>/pki/` on first call and loads the same one on every later call. */
export async function ensureLocalCA(dir: string, options: LocalCAOptions = {}): Promise<LocalCA> {
  const now = options.now ?? (() => new Date());
  const pkiDir = resolve(dir, 'pki');
  const sitesDir = join(pkiDir, 'sites');
  try {
    await mkdir(sitesDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new AnomalyError(ErrorCodes.TLS_CERT, `cannot create the local CA directory "${sitesDir}": ${(err as Error).message}`, { cause: err });
  }
  const root = await loadOrCreateRoot(pkiDir, now);
  return new LocalCertificateAuthority(root, sitesDir, now);
}

interface RootMaterial {
  readonly certPath: string;
  readonly certPem: string;
  readonly publicKey: KeyObject;
  readonly signingKey: CryptoKey;
}

/**
 * First writer wins: concurrent starters all end up with the root that reached the disk first.
 * The key is published first and is the CA's identity; a missing certificate for an existing key
 * (a writer that died in between) is simply created again by whoever notices.
 */
async function loadOrCreateRoot(pkiDir: string, now: () => Date): Promise<RootMaterial> {
  const certPath = join(pkiDir, CA_CERT_FILE);
  const keyPath = join(pkiDir, CA_KEY_FILE);
  let lastProblem = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const keyPem = await readIfExists(keyPath);
    if (keyPem === null) {
      const keys = await generateKeyPair();
      // Both are ready before the key is published, so the gap between the two files is tiny.
      const [newKeyPem, newCertPem] = await Promise.all([exportPrivateKeyPem(keys.privateKey), createRootCertificate(keys, now())]);
      if (await createFileExclusive(keyPath, newKeyPem, 0o600)) await createFileExclusive(certPath, newCertPem, 0o644);
      continue; // read back whatever won
    }
    const privateKey = parsePrivateKey(keyPem);
    if (privateKey === null) {
      lastProblem = `the key file "${keyPath}" is not a valid PEM private key`;
      await sleep(25); // possibly a writer still busy on a file system without hard links
      continue;
    }
    const certPem = await readIfExists(certPath);
    if (certPem === null) {
      const keys = await keyPairFromPrivate(privateKey);
      await createFileExclusive(certPath, await createRootCertificate(keys, now()), 0o644);
      continue;
    }
    let nodeCert: NodeX509;
    try {
      nodeCert = new NodeX509(certPem);
    } catch {
      lastProblem = `the certificate file "${certPath}" is not a valid PEM certificate`;
      await sleep(25);
      continue;
    }
    const publicKey = createPublicKey(privateKey);
    if (!sameKey(publicKey, nodeCert.publicKey)) {
      throw new AnomalyError(
        ErrorCodes.TLS_CERT,
        `the local CA certificate "${certPath}" does not match its key "${keyPath}"; delete both files to create a new local CA`,
      );
    }
    if (Date.parse(nodeCert.validTo) - now().getTime() < CA_RENEW_BEFORE_DAYS * DAY_MS) {
      // Rare (every ten years): set the old pair aside and create a new root on the next turn.
      const suffix = `.expired-${now().toISOString().replace(/[:.]/g, '-')}`;
      await rename(keyPath, keyPath + suffix).catch(() => {});
      await rename(certPath, certPath + suffix).catch(() => {});
      continue;
    }
    let signingKey: CryptoKey;
    try {
      signingKey = await webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), EC_KEY, false, ['sign']);
    } catch (err) {
      throw new AnomalyError(ErrorCodes.TLS_CERT, `the local CA key "${keyPath}" is not an ECDSA P-256 key; delete the CA files to create a new local CA`, { cause: err });
    }
    return { certPath, certPem: normalizePem(certPem), publicKey, signingKey };
  }
  throw new AnomalyError(ErrorCodes.TLS_CERT, `cannot load or create the local CA in "${pkiDir}": ${lastProblem || 'it keeps changing under us'}`);
}

class LocalCertificateAuthority implements LocalCA {
  readonly certPath: string;
  readonly certPem: string;
  readonly #root: RootMaterial;
  readonly #sitesDir: string;
  readonly #now: () => Date;

  constructor(root: RootMaterial, sitesDir: string, now: () => Date) {
    this.#root = root;
    this.certPath = root.certPath;
    this.certPem = root.certPem;
    this.#sitesDir = sitesDir;
    this.#now = now;
  }

  async issue(hostnames: readonly string[]): Promise<IssuedCertificate> {
    const names = canonicalNameSet(hostnames);
    if (names.length === 0) throw new AnomalyError(ErrorCodes.TLS_CERT, 'cannot issue a certificate without host names');
    for (const name of names) checkCertifiableName(name);
    const base = join(this.#sitesDir, siteFileName(names));
    const certPath = `${base}.pem`;
    const keyPath = `${base}.key`;
    const cached = await this.#loadCachedLeaf(certPath, keyPath, names);
    if (cached !== null) return cached;

    const keys = await generateKeyPair();
    const leafPem = await this.#createLeaf(keys, names);
    const issued: IssuedCertificate = { cert: leafPem + this.certPem, key: await exportPrivateKeyPem(keys.privateKey) };
    // Last writer wins: racing processes each serve the leaf they made (all chain to the same root);
    // the key goes first so that a reader never pairs a new certificate with an old key for long,
    // and #loadCachedLeaf rejects mismatched pairs anyway.
    await replaceFile(keyPath, issued.key, 0o600);
    await replaceFile(certPath, issued.cert, 0o644);
    return issued;
  }

  async #loadCachedLeaf(certPath: string, keyPath: string, names: readonly string[]): Promise<IssuedCertificate | null> {
    const [certPem, keyPem] = await Promise.all([readIfExists(certPath), readIfExists(keyPath)]);
    if (certPem === null || keyPem === null) return null;
    const key = parsePrivateKey(keyPem);
    if (key === null) return null;
    let leaf: NodeX509;
    try {
      leaf = new NodeX509(certPem);
    } catch {
      return null;
    }
    const nowMs = this.#now().getTime();
    const usable =
      leaf.verify(this.#root.publicKey) &&
      sameKey(createPublicKey(key), leaf.publicKey) &&
      Date.parse(leaf.validFrom) <= nowMs &&
      Date.parse(leaf.validTo) - nowMs >= LEAF_RENEW_BEFORE_DAYS * DAY_MS &&
      sameNames(sanNamesOf(leaf), names);
    if (!usable) return null;
    return { cert: normalizePem(leaf.toString()) + this.certPem, key: keyPem };
  }

  async #createLeaf(keys: CryptoKeyPair, names: readonly string[]): Promise<string> {
    const nowMs = this.#now().getTime();
    const root = this.#root;
    const x509 = await loadX509();
    const rootCert = new x509.X509Certificate(root.certPem);
    const rootKeyId = rootCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
    const extensions: InstanceType<typeof x509.Extension>[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map(sanFor)),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
    ];
    if (rootKeyId !== undefined) extensions.push(new x509.AuthorityKeyIdentifierExtension(rootKeyId));
    // Clients ignore the CN when SANs are present; it only makes the certificate readable in tools.
    const dnsNames = names.filter((n) => sanFor(n).type === 'dns');
    const commonName = (dnsNames.find((n) => !n.startsWith('*')) ?? dnsNames[0] ?? names[0]).slice(0, 64);
    const cert = await x509.X509CertificateGenerator.create(
      {
        serialNumber: randomSerial(),
        subject: [{ CN: [commonName] }],
        issuer: rootCert.subjectName,
        notBefore: new Date(nowMs - BACKDATE_MS),
        notAfter: new Date(nowMs + LEAF_VALIDITY_DAYS * DAY_MS),
        publicKey: keys.publicKey,
        signingKey: root.signingKey,
        signingAlgorithm: EC_SIGN,
        extensions,
      },
      webcrypto,
    );
    return normalizePem(cert.toString('pem'));
  }
}

async function createRootCertificate(keys: CryptoKeyPair, now: Date): Promise<string> {
  const x509 = await loadX509();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [LOCAL_CA_NAME] }, { O: ['anomaly'] }],
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
      keys,
      signingAlgorithm: EC_SIGN,
      extensions: [
        // pathLength 0: the root signs leaves directly, never intermediates.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return normalizePem(cert.toString('pem'));
}

/**
 * Wildcards must be a whole leftmost label ("*.example.com") over at least two labels; anything
 * else would be rejected by clients, so it is refused here with a clear message.
 */
function checkCertifiableName(name: string): void {
  if (!name.includes('*')) return;
  const base = wildcardBase(name);
  if (base === null || base.includes('*') || !base.includes('.')) {
    throw new AnomalyError(ErrorCodes.TLS_CERT, `cannot issue a certificate for "${name}": a wildcard must be the whole first label, as in "*.example.com"`);
  }
}

/** A readable, collision-free file name for a set of names: "<first name>-<hash of all>". */
function siteFileName(names: readonly string[]): string {
  const readable = names[0].replace(/^\*\./, 'wildcard.').replace(/[^a-z0-9.-]/g, '_').slice(0, 64);
  const digest = createHash('sha256').update(names.join('\n')).digest('hex').slice(0, 12);
  return `${readable}-${digest}`;
}

/** DNS and IP names from node's rendering, e.g. "DNS:localhost, IP Address:0:0:0:0:0:0:0:1". */
function sanNamesOf(cert: NodeX509): string[] {
  const names: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4));
    else if (entry.startsWith('IP Address:')) names.push(entry.slice(11));
    else if (entry !== '') names.push(`?${entry}`); // another kind of name: never equal to what we issue
  }
  return names;
}

function sameNames(have: readonly string[], want: readonly string[]): boolean {
  const a = canonicalNameSet(have);
  return a.length === want.length && a.every((n, i) => n === want[i]);
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
}

async function keyPairFromPrivate(privateKey: KeyObject): Promise<CryptoKeyPair> {
  const [priv, pub] = await Promise.all([
    webcrypto.subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), EC_KEY, true, ['sign']),
    webcrypto.subtle.importKey('spki', createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), EC_KEY, true, ['verify']),
  ]);
  return { privateKey: priv, publicKey: pub };
}

async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }).toString();
}

function parsePrivateKey(pem: string): KeyObject | null {
  try {
    return createPrivateKey(pem);
  } catch {
    return null;
  }
}

function sameKey(a: KeyObject, b: KeyObject): boolean {
  return a.export({ type: 'spki', format: 'der' }).equals(b.export({ type: 'spki', format: 'der' }));
}

/** 16 random bytes, positive and without a leading zero byte (RFC 5280: positive, at most 20 octets). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return bytes.toString('hex');
}

/** PEM with "\n" line ends and exactly one trailing newline, so chains concatenate cleanly. */
function normalizePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n').trim() + '\n';
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AnomalyError(ErrorCodes.TLS_CERT, `cannot read "${path}": ${(err as Error).message}`, { cause: err });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
