#!/usr/bin/env node
// Builds the QUIC binding (quiche + BoringSSL, from crates.io) with cargo and copies it to a stable path,
// native/quic/anomaly_quic.node, which src/protocols/http3/native.ts loads. Run by `npm install`.
// Without cargo (or when the build fails) this prints one clear line and exits 0: anomaly then runs
// without HTTP/3 and says so at start. ANOMALY_SKIP_QUIC_BUILD=1 skips the build.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, 'anomaly_quic.node');
const libName = { darwin: 'libanomaly_quic.dylib', win32: 'anomaly_quic.dll' }[process.platform] ?? 'libanomaly_quic.so';

function skip(why) {
  console.log(`anomaly: HTTP/3 binding not built (${why}); the server will run without HTTP/3.`);
  process.exit(0);
}

if (process.env.ANOMALY_SKIP_QUIC_BUILD === '1') skip('ANOMALY_SKIP_QUIC_BUILD=1');
const cargo = process.env.CARGO ?? 'cargo';
const probe = spawnSync(cargo, ['--version'], { encoding: 'utf8' });
if (probe.error !== undefined || probe.status !== 0) skip('cargo not found; install Rust from https://rustup.rs and run `npm rebuild` or `node native/quic/build.mjs`');

const started = Date.now();
const build = spawnSync(cargo, ['build', '--release', '--locked', '--manifest-path', join(here, 'Cargo.toml')], { stdio: 'inherit' });
if (build.error !== undefined || build.status !== 0) skip(`cargo build failed (exit ${build.status}); see the output above`);
const built = join(here, 'target', 'release', libName);
if (!existsSync(built)) skip(`cargo did not produce ${built}`);
// Copy then rename: a running server that has the old file mapped keeps a consistent image.
copyFileSync(built, `${target}.tmp`);
renameSync(`${target}.tmp`, target);
console.log(`anomaly: HTTP/3 binding ready (${target}, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
