// Opens the admin dashboard in headless Chromium while the caller runs load, waits until it shows
// live figures, saves a screenshot and prints what the page shows as JSON.
// usage: node admin_dashboard_chromium.mjs CHROMIUM URL SCREENSHOT -> exit 0 when the page went live.
import { chromium } from 'playwright-core';

const [executablePath, url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  await page.waitForSelector('#status.live', { timeout: 20_000 });
  // A few seconds of history: rates need two scrapes, the charts a few points. The rate is shown
  // abbreviated ("1.5k"): parseFloat reads its number, Number() would give NaN past 999/s.
  await page.waitForFunction(() => parseFloat(document.getElementById('rps')?.textContent ?? '') > 0 && document.querySelectorAll('#latency tr td.num').length > 0, null, { timeout: 20_000 });
  await page.waitForTimeout(4000);
  const shown = await page.evaluate(() => ({
    status: document.getElementById('status').textContent,
    rps: document.getElementById('rps').textContent,
    errors: document.getElementById('errors').textContent,
    totals: document.getElementById('totals').textContent,
    latency: [...document.querySelectorAll('#latency tr')].map((tr) => tr.textContent),
    protocols: [...document.querySelectorAll('#protocols tr')].map((tr) => tr.textContent),
    cache: document.getElementById('cache').textContent,
    upstreams: [...document.querySelectorAll('#upstreams tr')].map((tr) => tr.textContent),
  }));
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ...shown, pageErrors: errors }));
  process.exitCode = errors.length === 0 ? 0 : 1;
} finally {
  await browser.close();
}
