import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { silentLogger } from '../../../src/core/logger.js';
import { DiskStore } from '../../../src/cache/stores/disk.js';
import { MemoryStore } from '../../../src/cache/stores/memory.js';
import { RedisStore } from '../../../src/cache/stores/redis.js';
import { entry, storeContract } from './store-contract.js';

const IN_CI = ['1', 'true', 'yes'].includes((process.env.CI ?? '').toLowerCase());

describe('memory store (contract)', () => {
  storeContract({ bounded: true, open: async (maxBytes) => ({ store: new MemoryStore(maxBytes) }) });
});

describe('disk store (contract)', () => {
  storeContract({
    bounded: true,
    open: async (maxBytes) => {
      const dir = await mkdtemp(join(tmpdir(), 'anomaly-disk-store-'));
      return { store: await DiskStore.open(dir, maxBytes), cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  });

  it('survives a reopen (restart): entries and their LRU order come back from the directory', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'anomaly-disk-store-'));
    try {
      const first = await DiskStore.open(dir, 1 << 20);
      await first.set('k', entry('k', 'persisted'));
      await first.close();
      const second = await DiskStore.open(dir, 1 << 20);
      assert.equal(Buffer.from((await second.get('k'))?.body ?? []).toString(), 'persisted');
      assert.equal(second.stats().entries, 1);
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------- Redis

function redisServerPath(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A throwaway redis-server on a free port: no persistence, stopped after the suite. */
async function startRedis(bin: string): Promise<{ port: number; proc: ChildProcess }> {
  const port = await freePort();
  const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (await canConnect(port)) return { port, proc };
    if (Date.now() > deadline) {
      proc.kill();
      throw new Error(`redis-server did not start on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('redis store: server down', () => {
  it('every call answers at once as a miss / no-op, with one log line', async () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, warn: (_o: unknown, msg?: string) => lines.push(String(msg)), child: () => logger } as typeof silentLogger;
    const port = await freePort(); // nothing listens there
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'down:', timeout: 200, logger });
    const started = Date.now();
    assert.equal(await store.get('k'), null);
    await store.set('k', entry('k'));
    assert.equal(await store.delete('k'), false);
    assert.ok(Date.now() - started < 500, 'no waiting on a dead server');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lines.filter((l) => /redis unreachable/.test(l)).length, 1);
    await store.close();
  });
});

describe('redis store (contract, real redis-server)', () => {
  const bin = redisServerPath();
  if (bin === null) {
    const reason = '*** REQUIRED TOOL MISSING: redis-server is not installed (Debian package redis-server): Redis store tests skipped ***';
    if (IN_CI) {
      it('needs redis-server (CI=true: missing is a failure)', () => assert.fail(reason));
    } else {
      console.warn(reason);
      it.skip(reason);
    }
    return;
  }
  let server: { port: number; proc: ChildProcess } | null = null;
  let n = 0;
  const open = async () => {
    server ??= await startRedis(bin);
    const store = new RedisStore({ url: `redis://127.0.0.1:${server.port}`, prefix: `contract:${process.pid}:${++n}:`, timeout: 1000, logger: silentLogger });
    await store.ready();
    return { store };
  };
  storeContract({ bounded: false, open });

  it('two stores on one Redis share entries (two anomaly instances)', async () => {
    const a = await open();
    const b = new RedisStore({ url: `redis://127.0.0.1:${server?.port}`, prefix: `contract:${process.pid}:${n}:`, timeout: 1000, logger: silentLogger });
    await b.ready();
    await a.store.set('shared', entry('shared', 'from a'));
    assert.equal(Buffer.from((await b.get('shared'))?.body ?? []).toString(), 'from a');
    await a.store.close();
    await b.close();
  });

  it('a store opened while Redis is down starts working once it is up', async () => {
    const lines: string[] = [];
    const logger = { ...silentLogger, info: (_o: unknown, msg?: string) => lines.push(String(msg)), child: () => logger } as typeof silentLogger;
    const port = await freePort();
    const store = new RedisStore({ url: `redis://127.0.0.1:${port}`, prefix: 'late:', timeout: 500, logger });
    assert.equal(await store.get('k'), null);
    const late = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    try {
      await store.ready(8000);
      await store.set('k', entry('k', 'late'));
      assert.equal(Buffer.from((await store.get('k'))?.body ?? []).toString(), 'late');
      assert.ok(lines.some((l) => /redis reachable again/.test(l)));
    } finally {
      await store.close();
      late.kill();
    }
  });

  it('stops the test redis-server', () => {
    server?.proc.kill();
    server = null;
  });
});
