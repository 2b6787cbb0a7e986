import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { it } from 'node:test';
import type { CacheEntry } from '../../../src/cache/entry.js';
import { makeEntry, varyMarker } from '../../../src/cache/policy.js';
import type { CacheStore } from '../../../src/cache/stores/store.js';
import { POLICY } from './helpers.js';

export interface StoreUnderTest {
  readonly store: CacheStore;
  /** Removes what the store left behind (directories, servers). */
  cleanup?(): Promise<void>;
}

export interface ContractOptions {
  /** Opens a store bounded to `maxBytes` (ignored by stores bounded elsewhere, like Redis). */
  readonly open: (maxBytes: number) => Promise<StoreUnderTest>;
  /** Whether the store enforces `maxBytes` itself with LRU eviction. */
  readonly bounded: boolean;
}

export function entry(key: string, body: string | Uint8Array = 'body', headers: Record<string, string | string[]> = {}, ttlSeconds = 60): CacheEntry {
  const now = Date.now();
  return makeEntry(key, 200, { 'cache-control': `max-age=${ttlSeconds}`, ...headers }, typeof body === 'string' ? Buffer.from(body) : body, now, now, { ...POLICY, keepStale: 0 });
}

const plain = (e: CacheEntry | null) => (e === null ? null : { ...e, headers: { ...e.headers }, body: Buffer.from(e.body).toString('base64') });

/** The CacheStore contract (src/cache/stores/store.ts), run against every store. */
export function storeContract({ open, bounded }: ContractOptions): void {
  const withStore = (maxBytes: number, fn: (store: CacheStore) => Promise<void>) => async () => {
    const sut = await open(maxBytes);
    try {
      await fn(sut.store);
    } finally {
      await sut.store.close();
      await sut.cleanup?.();
    }
  };

  it('returns what was set, field for field, and null for unknown keys', withStore(1 << 24, async (store) => {
    const e = entry('http://a.test/x', 'hello', { etag: '"1"', 'x-multi': ['a', 'b'], vary: 'accept' });
    await store.set(e.key, e);
    assert.deepEqual(plain(await store.get(e.key)), plain(e));
    assert.equal(await store.get('http://a.test/unknown'), null);
  }));

  it('round-trips binary bodies and Vary markers', withStore(1 << 24, async (store) => {
    const bytes = randomBytes(256 * 1024);
    const e = entry('bin', bytes);
    await store.set('bin', e);
    const back = await store.get('bin');
    assert.ok(back !== null && Buffer.from(back.body).equals(bytes));
    const marker = varyMarker('m', ['accept-encoding'], 'abc123', Date.now() + 60_000);
    await store.set('m', marker);
    assert.deepEqual((await store.get('m'))?.variants, { names: ['accept-encoding'], id: 'abc123' });
  }));

  it('replaces an entry set again under the same key', withStore(1 << 24, async (store) => {
    await store.set('k', entry('k', 'one'));
    await store.set('k', entry('k', 'two'));
    assert.equal(Buffer.from((await store.get('k'))?.body ?? []).toString(), 'two');
  }));

  it('deletes one entry and reports whether it existed; clear removes all', withStore(1 << 24, async (store) => {
    for (const k of ['a', 'b', 'c']) await store.set(k, entry(k));
    assert.equal(await store.delete('a'), true);
    assert.equal(await store.delete('a'), false);
    assert.equal(await store.get('a'), null);
    assert.notEqual(await store.get('b'), null);
    await store.clear();
    assert.equal(await store.get('b'), null);
    assert.equal(await store.get('c'), null);
  }));

  it('never returns an entry past its expiresAt', withStore(1 << 24, async (store) => {
    const now = Date.now();
    const short = makeEntry('s', 200, { 'cache-control': 'max-age=0' , etag: '"e"' }, Buffer.from('x'), now, now, { ...POLICY, keepStale: 150 });
    await store.set('s', short);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await store.get('s'), null);
  }));

  if (bounded) {
    it('stays within its byte bound, evicting the least recently used first', withStore(40_000, async (store) => {
      const body = 'x'.repeat(9000);
      for (const k of ['1', '2', '3', '4']) await store.set(k, entry(k, body));
      await store.get('1'); // 1 is now more recent than 2
      await store.set('5', entry('5', body));
      const stats = store.stats();
      assert.ok((stats.bytes ?? 0) <= 40_000, `bytes ${stats.bytes}`);
      assert.notEqual(await store.get('1'), null, 'recently used survives');
      assert.equal(await store.get('2'), null, 'least recently used is evicted');
      assert.notEqual(await store.get('5'), null);
    }));

    it('refuses an entry larger than the whole bound without dropping others', withStore(20_000, async (store) => {
      await store.set('small', entry('small', 'x'));
      await store.set('huge', entry('huge', 'y'.repeat(50_000)));
      assert.equal(await store.get('huge'), null);
      assert.notEqual(await store.get('small'), null);
    }));
  }
}
