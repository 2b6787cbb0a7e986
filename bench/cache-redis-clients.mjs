#!/usr/bin/env node
// Why the Redis cache store uses ioredis: client CPU per GET of a 1.5 KiB value (the size of a small
// cache entry) with 50 GETs in flight, against a throwaway local redis-server, median of 3 rounds.
// ioredis is a dependency; @redis/client (node-redis) is measured when it can be imported
// (`npm i --no-save @redis/client@6` in a scratch checkout).   node bench/cache-redis-clients.mjs
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = s.address().port;
    s.close(() => resolve(p));
  });
});
const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
server.on('error', () => {
  console.error('redis-server is not installed (Debian package redis-server)');
  process.exit(1);
});
await new Promise((r) => setTimeout(r, 500));

const value = Buffer.alloc(1536, 7);
const N = 40_000;
const IN_FLIGHT = 50;
async function measure(name, get, set) {
  await set('k', value);
  const rounds = async (n) => {
    let i = 0;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (i++ < n) if ((await get('k')).length !== value.length) throw new Error('wrong value');
    }));
  };
  await rounds(5000);
  const results = [];
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await rounds(N);
    const c = process.cpuUsage(c0);
    results.push({ cpu: (c.user + c.system) / N, rate: (N / (performance.now() - t0)) * 1000 });
  }
  results.sort((a, b) => a.cpu - b.cpu);
  console.log(`${name.padEnd(28)} ${results[1].cpu.toFixed(2).padStart(6)} µs client CPU/GET   ${Math.round(results[1].rate)} GET/s`);
}

const io = new Redis({ port, host: '127.0.0.1', enableOfflineQueue: false, lazyConnect: true });
await io.connect();
await measure('ioredis getBuffer', (k) => io.getBuffer(k), (k, v) => io.set(k, v));
try {
  const { createClient, RESP_TYPES } = await import('@redis/client');
  const options = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } };
  const nr = createClient({ url: `redis://127.0.0.1:${port}`, disableOfflineQueue: true, commandOptions: options });
  await nr.connect();
  await measure('@redis/client sendCommand', (k) => nr.sendCommand(['GET', k]), (k, v) => nr.sendCommand(['SET', k, v]));
  await nr.close();
} catch (err) {
  console.log(`@redis/client not measured (${err.code ?? err.message})`);
}
io.disconnect();
server.kill();
