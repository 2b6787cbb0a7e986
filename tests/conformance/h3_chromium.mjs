// Headless Chromium forced onto QUIC for one origin, loading a page from anomaly.
// usage: node h3_chromium.mjs CHROMIUM URL PORT -> prints "status=<n> protocol=<nextHopProtocol>"; exit 0 on success.
// The certificate is trusted by its public key hash (--ignore-certificate-errors-spki-list), so the
// local CA need not be installed in an NSS database.
import { X509Certificate, createHash } from 'node:crypto';
import tls from 'node:tls';
import { chromium } from 'playwright-core';

const [executablePath, url, port] = process.argv.slice(2);
const origin = new URL(url);

function spkiHash() {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: origin.hostname, port: Number(port), servername: 'localhost', rejectUnauthorized: false }, () => {
      const der = socket.getPeerCertificate(false).raw;
      socket.end();
      const spki = new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
      resolve(createHash('sha256').update(spki).digest('base64'));
    });
    socket.once('error', reject);
  });
}

const hash = await spkiHash();
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--enable-quic',
    `--origin-to-force-quic-on=${origin.hostname}:${port}`,
    `--ignore-certificate-errors-spki-list=${hash}`,
  ],
});
try {
  const page = await browser.newPage();
  const response = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0]?.nextHopProtocol ?? '');
  const text = await page.textContent('#proto');
  console.log(`status=${response?.status() ?? 0} protocol=${protocol} text=${JSON.stringify(text)}`);
  process.exitCode = response?.status() === 200 && protocol === 'h3' ? 0 : 1;
} finally {
  await browser.close();
}
