import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { access, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { AnomalyError, ErrorCodes } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import { CertStore, DEFAULT_ENTRY_NAME, type SiteTlsSpec } from '../../../src/tls/cert-store.js';
import { ensureLocalCA } from '../../../src/tls/local-ca.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'anomaly-store-test-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** "User-provided" PEM files, made by an unrelated CA in another directory. */
async function userCertFiles(names: string[]): Promise<{ cert: string; key: string; certPem: string; caPem: string }> {
  const dir = await tempDir();
  const otherCa = await ensureLocalCA(dir);
  const issued = await otherCa.issue(names);
  const cert = join(dir, 'user.pem');
  const key = join(dir, 'user.key');
  await writeFile(cert, issued.cert);
  await writeFile(key, issued.key);
  return { cert, key, certPem: issued.cert, caPem: otherCa.certPem };
}

/** Starts a TLS server on 127.0.0.1 with the store, handshakes with verification on, returns the peer certificate. */
async function handshake(store: CertStore, ca: string, servername: string | undefined): Promise<tls.PeerCertificate> {
  const server = tls.createServer({ cert: store.cert, key: store.key, SNICallback: store.sniCallback }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    return await new Promise<tls.PeerCertificate>((resolve, reject) => {
      const options: tls.ConnectionOptions = { host: '127.0.0.1', port, ca, rejectUnauthorized: true };
      if (servername !== undefined) options.servername = servername;
      const socket = tls.connect(options, () => {
        const peer = socket.getPeerCertificate();
        assert.equal(socket.authorized, true);
        socket.end();
        resolve(peer);
      });
      socket.on('error', reject);
    });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

test('SNI selection: exact, then wildcard, then default; case-insensitive', async () => {
  const sites: SiteTlsSpec[] = [
    { hosts: ['app.example.com'], tls: null },
    { hosts: ['*.example.com'], tls: null },
    { hosts: ['*.b.example.com', 'Other.Test'], tls: null },
  ];
  const store = await CertStore.build(sites, await tempDir(), silentLogger);
  const exact = store.secureContextFor('app.example.com');
  const wild = store.secureContextFor('a.example.com');
  const deeper = store.secureContextFor('x.b.example.com');
  const fallback = store.defaultContext;

  assert.notEqual(exact, wild);
  assert.notEqual(wild, fallback);
  assert.notEqual(deeper, wild);
  assert.equal(store.secureContextFor('APP.Example.COM'), exact);
  assert.equal(store.secureContextFor('app.example.com.'), exact);
  assert.equal(store.secureContextFor('zzz.example.com'), wild);
  assert.equal(store.secureContextFor('other.test'), deeper);
  assert.equal(store.secureContextFor('example.com'), fallback, 'a wildcard does not cover its apex');
  assert.equal(store.secureContextFor('a.c.example.com'), fallback, 'a wildcard covers one label only');
  assert.equal(store.secureContextFor('unknown.test'), fallback);
  assert.equal(store.secureContextFor(undefined), fallback);
  assert.equal(store.secureContextFor(''), fallback);

  assert.deepEqual(store.describe(), {
    'app.example.com': 'local-ca',
    'other.test': 'local-ca',
    '*.example.com': 'local-ca',
    '*.b.example.com': 'local-ca',
    [DEFAULT_ENTRY_NAME]: 'local-ca',
  });
  assert.ok(store.localCaPath?.endsWith('anomaly-local-ca.pem'));

  const viaCallback = await new Promise<tls.SecureContext | undefined>((resolve, reject) =>
    store.sniCallback('a.example.com', (err, ctx) => (err ? reject(err) : resolve(ctx))),
  );
  assert.equal(viaCallback, wild);
});

test('end to end: verified handshakes for localhost, a wildcard name and a bare IP', async () => {
  const dataDir = await tempDir();
  const store = await CertStore.build([{ hosts: ['*.example.com'], tls: null }, { hosts: [], tls: null }], dataDir, silentLogger);
  assert.ok(store.localCaPath);
  const caPem = (await ensureLocalCA(dataDir)).certPem;

  const local = await handshake(store, caPem, 'localhost');
  assert.match(local.subjectaltname ?? "", /DNS:localhost/);
  const wild = await handshake(store, caPem, 'api.example.com');
  assert.match(wild.subjectaltname ?? "", /DNS:\*\.example\.com/);
  const bareIp = await handshake(store, caPem, undefined); // no SNI for IP addresses: the default covers 127.0.0.1
  assert.match(bareIp.subjectaltname ?? "", /IP Address:127\.0\.0\.1/);
});

test('user certificate files are used and the local CA is not created when no site needs it', async () => {
  const user = await userCertFiles(['files.test', '*.files.test']);
  const dataDir = await tempDir();
  const store = await CertStore.build([{ hosts: ['files.test', '*.files.test'], tls: { cert: user.cert, key: user.key } }], dataDir, silentLogger);
  assert.equal(store.localCaPath, null);
  await assert.rejects(access(join(dataDir, 'pki')), 'no pki directory created');
  assert.deepEqual(store.describe(), { 'files.test': 'file', '*.files.test': 'file', [DEFAULT_ENTRY_NAME]: 'file' });

  const expected = new X509Certificate(user.certPem).fingerprint256;
  assert.equal((await handshake(store, user.caPem, 'files.test')).fingerprint256, expected);
  assert.equal((await handshake(store, user.caPem, 'www.files.test')).fingerprint256, expected);
});

test('mixed sites: a default site with user files provides the default certificate', async () => {
  const user = await userCertFiles(['localhost']);
  const store = await CertStore.build(
    [
      { hosts: ['local.test'], tls: null },
      { hosts: [], tls: { cert: user.cert, key: user.key } },
    ],
    await tempDir(),
    silentLogger,
  );
  assert.ok(store.localCaPath !== null, 'local.test needed the local CA');
  assert.deepEqual(store.describe(), { 'local.test': 'local-ca', [DEFAULT_ENTRY_NAME]: 'file' });
  assert.equal(store.cert, user.certPem);
  const peer = await handshake(store, user.caPem, 'localhost');
  assert.equal(peer.fingerprint256, new X509Certificate(user.certPem).fingerprint256);
});

test('a missing certificate file gives an AnomalyError naming the file', async () => {
  const user = await userCertFiles(['files.test']);
  const missing = join(await tempDir(), 'nope.pem');
  await assert.rejects(
    CertStore.build([{ hosts: ['files.test'], tls: { cert: missing, key: user.key } }], await tempDir(), silentLogger),
    (err: unknown) => {
      assert.ok(err instanceof AnomalyError);
      assert.equal(err.code, ErrorCodes.TLS_CERT);
      assert.ok(err.message.includes(missing), err.message);
      assert.match(err.message, /certificate file/);
      return true;
    },
  );
});

test('a key that does not match its certificate gives an AnomalyError naming both files', async () => {
  const a = await userCertFiles(['a.test']);
  const b = await userCertFiles(['b.test']);
  await assert.rejects(
    CertStore.build([{ hosts: ['a.test'], tls: { cert: a.cert, key: b.key } }], await tempDir(), silentLogger),
    (err: unknown) => err instanceof AnomalyError && err.code === ErrorCodes.TLS_CERT && err.message.includes(a.cert) && err.message.includes(b.key),
  );
});

test('a file that is not PEM gives an AnomalyError', async () => {
  const dir = await tempDir();
  const junk = join(dir, 'junk.pem');
  await writeFile(junk, 'not a certificate\n');
  const user = await userCertFiles(['a.test']);
  await assert.rejects(
    CertStore.build([{ hosts: ['a.test'], tls: { cert: junk, key: user.key } }], await tempDir(), silentLogger),
    (err: unknown) => err instanceof AnomalyError && err.code === ErrorCodes.TLS_CERT && err.message.includes(junk),
  );
});

test('a user certificate that does not cover its hosts is logged as a warning', async () => {
  const user = await userCertFiles(['other.test']);
  const warnings: unknown[] = [];
  const logger = { ...silentLogger, warn: (obj: unknown) => void warnings.push(obj), child: () => logger };
  await CertStore.build([{ hosts: ['mine.test'], tls: { cert: user.cert, key: user.key } }], await tempDir(), logger);
  assert.equal(warnings.length, 1);
});
