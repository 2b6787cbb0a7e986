import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { AnomalyError, ErrorCodes } from '../../../src/core/errors.js';
import { CA_CERT_FILE, CA_KEY_FILE, LOCAL_CA_NAME, ensureLocalCA } from '../../../src/tls/local-ca.js';

const DAY = 24 * 60 * 60 * 1000;
const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'anomaly-ca-test-'));
  dirs.push(d);
  return d;
}
after(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** The first certificate of a PEM chain. */
function firstCert(pem: string): X509Certificate {
  return new X509Certificate(pem);
}

test('creates the CA once and reuses it (same file, same serial)', async (t) => {
  const dir = await tempDir();
  const started = performance.now();
  const first = await ensureLocalCA(dir);
  const caMs = performance.now() - started;
  await first.issue(['localhost', '127.0.0.1', '::1']);
  t.diagnostic(`first-time generation: CA ${caMs.toFixed(1)} ms, CA + leaf ${(performance.now() - started).toFixed(1)} ms`);

  assert.equal(first.certPath, join(dir, 'pki', CA_CERT_FILE));
  const onDisk = await readFile(first.certPath, 'utf8');
  assert.equal(onDisk, first.certPem);
  const keyMode = (await stat(join(dir, 'pki', CA_KEY_FILE))).mode & 0o777;
  assert.equal(keyMode, 0o600);

  const ca = new X509Certificate(first.certPem);
  assert.equal(ca.ca, true);
  assert.match(ca.subject, new RegExp(`CN=${LOCAL_CA_NAME}`));
  assert.equal(ca.subject, ca.issuer);
  assert.ok(Date.parse(ca.validTo) - Date.now() > 9 * 365 * DAY, 'CA is long-lived');

  const second = await ensureLocalCA(dir);
  assert.equal(second.certPath, first.certPath);
  assert.equal(second.certPem, first.certPem);
  assert.equal(new X509Certificate(second.certPem).serialNumber, ca.serialNumber);
  assert.equal(await readFile(first.certPath, 'utf8'), onDisk);
});

test('issued leaf verifies against the CA and covers DNS names, wildcards and IPs', async () => {
  const dir = await tempDir();
  const localCa = await ensureLocalCA(dir);
  const issued = await localCa.issue(['LocalHost', '*.example.com', '127.0.0.1', '::1']);
  const ca = new X509Certificate(localCa.certPem);
  const leaf = firstCert(issued.cert);

  assert.ok(leaf.verify(ca.publicKey), 'leaf is signed by the CA');
  assert.ok(leaf.checkIssued(ca));
  assert.equal(leaf.ca, false);
  assert.equal(leaf.checkHost('localhost'), 'localhost');
  assert.equal(leaf.checkHost('a.example.com'), '*.example.com');
  assert.equal(leaf.checkHost('example.com'), undefined);
  assert.equal(leaf.checkHost('a.b.example.com'), undefined);
  assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
  assert.ok(leaf.checkIP('::1') !== undefined);
  assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth EKU');
  const lifetime = Date.parse(leaf.validTo) - Date.now();
  assert.ok(lifetime > 80 * DAY && lifetime <= 90 * DAY, `leaf lifetime ${lifetime / DAY} days`);

  // The served PEM is the chain: leaf, then the CA.
  assert.ok(issued.cert.endsWith(localCa.certPem));
  assert.equal(issued.cert.match(/BEGIN CERTIFICATE/g)?.length, 2);
  assert.match(issued.key, /BEGIN PRIVATE KEY/);
});

test('leaves are cached on disk and reused on restart for the same names', async () => {
  const dir = await tempDir();
  const a = await (await ensureLocalCA(dir)).issue(['b.test', 'a.test']);
  const files = await readdir(join(dir, 'pki', 'sites'));
  assert.equal(files.length, 2);
  const keyFile = files.find((f) => f.endsWith('.key'));
  assert.ok(keyFile);
  assert.equal((await stat(join(dir, 'pki', 'sites', keyFile)).then((s) => s.mode)) & 0o777, 0o600);

  const restarted = await ensureLocalCA(dir);
  const b = await restarted.issue(['A.test', 'b.test', 'a.test']);
  assert.equal(b.cert, a.cert, 'same names in another order and case reuse the leaf');
  assert.equal(b.key, a.key);

  const ips = await restarted.issue(['::1', '127.0.0.1', '*.wild.test']);
  assert.equal((await (await ensureLocalCA(dir)).issue(['0:0:0:0:0:0:0:1', '*.WILD.test', '127.0.0.1'])).cert, ips.cert, 'IPv6 and wildcards compare canonically');

  const other = await restarted.issue(['a.test']);
  assert.notEqual(firstCert(other.cert).serialNumber, firstCert(a.cert).serialNumber, 'other names, other leaf');
});

test('a leaf is re-issued when fewer than 7 days remain', async () => {
  const dir = await tempDir();
  const start = Date.now();
  const original = await (await ensureLocalCA(dir, { now: () => new Date(start) })).issue(['renew.test']);
  const later = await ensureLocalCA(dir, { now: () => new Date(start + 80 * DAY) });
  assert.equal((await later.issue(['renew.test'])).cert, original.cert, '10 days left: reused');
  const muchLater = await ensureLocalCA(dir, { now: () => new Date(start + 85 * DAY) });
  const renewed = await muchLater.issue(['renew.test']);
  assert.notEqual(renewed.cert, original.cert, '5 days left: re-issued');
  assert.ok(Date.parse(firstCert(renewed.cert).validTo) > start + 170 * DAY);
});

test('a leaf signed by another CA is not reused', async () => {
  const dir = await tempDir();
  const issued = await (await ensureLocalCA(dir)).issue(['x.test']);
  await rm(join(dir, 'pki', CA_CERT_FILE));
  await rm(join(dir, 'pki', CA_KEY_FILE));
  const fresh = await ensureLocalCA(dir);
  const again = await fresh.issue(['x.test']);
  assert.notEqual(again.cert, issued.cert);
  assert.ok(firstCert(again.cert).verify(new X509Certificate(fresh.certPem).publicKey));
});

test('concurrent starts in one process agree on one CA', async () => {
  const dir = await tempDir();
  const cas = await Promise.all(Array.from({ length: 6 }, () => ensureLocalCA(dir)));
  for (const ca of cas) assert.equal(ca.certPem, cas[0].certPem);
  assert.equal(await readFile(cas[0].certPath, 'utf8'), cas[0].certPem);
  const leaves = await Promise.all(cas.map((ca) => ca.issue(['race.test'])));
  const caKey = new X509Certificate(cas[0].certPem).publicKey;
  for (const leaf of leaves) assert.ok(firstCert(leaf.cert).verify(caKey));
  assert.deepEqual((await readdir(join(dir, 'pki'))).sort(), [CA_KEY_FILE, CA_CERT_FILE, 'sites'].sort(), 'no temp files left');
});

test('concurrent starts in separate processes agree on one CA', async () => {
  const dir = await tempDir();
  const moduleUrl = new URL('../../../src/tls/local-ca.js', import.meta.url).href;
  const script = `const { ensureLocalCA } = await import(${JSON.stringify(moduleUrl)});
    const ca = await ensureLocalCA(${JSON.stringify(dir)});
    await ca.issue(['proc.test']);
    process.stdout.write(ca.certPem);`;
  const run = promisify(execFile);
  const outputs = await Promise.all(
    Array.from({ length: 4 }, () => run(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('.', import.meta.url)) })),
  );
  const pems = new Set(outputs.map((o) => o.stdout));
  assert.equal(pems.size, 1, 'every process loaded the same CA');
  assert.equal(await readFile(join(dir, 'pki', CA_CERT_FILE), 'utf8'), outputs[0].stdout);
});

test('bad names are refused with a clear AnomalyError', async () => {
  const ca = await ensureLocalCA(await tempDir());
  for (const names of [[], ['a.*.example.com'], ['*'], ['*.com']]) {
    await assert.rejects(ca.issue(names), (err: unknown) => err instanceof AnomalyError && err.code === ErrorCodes.TLS_CERT);
  }
});
