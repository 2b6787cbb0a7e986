#!/usr/bin/env node
// Fetches the pinned pure-Python wheels of runtimes/python/requirements.txt into runtimes/python/wheels/
// (run by `npm install`/`npm ci` through "prepare"). Python apps import them offline: nothing is fetched
// while the server runs. Without python3/pip or a network this warns and leaves the folder as it is; the
// tests that need a wheel then skip locally and fail in CI.
//
//   node scripts/python-wheels.mjs            fetch what is missing
//   node scripts/python-wheels.mjs --check    exit 1 when a pinned wheel is missing
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const requirements = join(root, 'runtimes', 'python', 'requirements.txt');
const dest = join(root, 'runtimes', 'python', 'wheels');
// The interpreter pyodide 314 embeds: pip picks wheels that this Python can import.
const TARGET = ['--platform', 'any', '--python-version', '3.14', '--implementation', 'py'];

/** [{name, version, hashes}] from "name==version --hash=sha256:..." lines. */
function pins() {
  const out = [];
  for (const raw of readFileSync(requirements, 'utf8').split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const m = /^([A-Za-z0-9_.-]+)==([^\s]+)((?:\s+--hash=sha256:[0-9a-f]{64})+)$/.exec(line);
    if (m === null) throw new Error(`${requirements}: "${line}" is not "name==version --hash=sha256:..."`);
    out.push({ name: m[1], version: m[2], hashes: [...m[3].matchAll(/sha256:([0-9a-f]{64})/g)].map((h) => h[1]) });
  }
  return out;
}

const norm = (name) => name.toLowerCase().replace(/[-_.]+/g, '_');
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');

function present(pin) {
  if (!existsSync(dest)) return null;
  // {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
  const file = readdirSync(dest).find((f) => {
    const parts = f.split('-');
    return f.endsWith('.whl') && norm(parts[0]) === norm(pin.name) && parts[1] === pin.version;
  });
  if (file === undefined) return null;
  return pin.hashes.includes(sha256(join(dest, file))) ? file : null;
}

const list = pins();
const missing = list.filter((p) => present(p) === null);
if (process.argv.includes('--check')) {
  for (const p of missing) process.stderr.write(`python wheels: ${p.name}==${p.version} missing from ${dest}\n`);
  process.exit(missing.length === 0 ? 0 : 1);
}
if (missing.length === 0) process.exit(0);

const python = ['python3', 'python'].find((p) => spawnSync(p, ['-m', 'pip', '--version'], { stdio: 'ignore' }).status === 0);
if (python === undefined) {
  process.stderr.write(`python wheels: no python3 with pip; ${missing.map((p) => p.name).join(', ')} not fetched (apps importing them will fail)\n`);
  process.exit(0);
}
mkdirSync(dest, { recursive: true });
const r = spawnSync(python, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--only-binary=:all:', '--no-deps', '--require-hashes', ...TARGET, '-d', dest, '-r', requirements], { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) {
  process.stderr.write(`python wheels: pip download failed (exit ${r.status}); pure-Python packages for apps not fetched\n`);
  process.exit(0);
}
// Only pure-Python wheels load in pyodide without its own package builds.
for (const f of readdirSync(dest)) {
  if (f.endsWith('.whl') && !f.endsWith('-none-any.whl')) {
    rmSync(join(dest, f));
    process.stderr.write(`python wheels: ${f} is not pure Python; removed\n`);
  }
}
const still = list.filter((p) => present(p) === null);
process.stderr.write(still.length === 0 ? `python wheels: ${list.length} wheel(s) in ${dest}\n` : `python wheels: still missing ${still.map((p) => p.name).join(', ')}\n`);
