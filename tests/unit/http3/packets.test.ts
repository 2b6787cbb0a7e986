import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DatagramBatch, forEachDatagram } from '../../../src/protocols/http3/packets.js';

describe('DatagramBatch / forEachDatagram (the packed format shared with native/quic/src/pack.rs)', () => {
  it('round-trips datagrams with IPv4 and IPv6 sources', () => {
    const batch = new DatagramBatch(4096);
    const items: Array<[Buffer, string, number]> = [
      [Buffer.from('first'), '127.0.0.1', 443],
      [Buffer.alloc(1200, 7), '::ffff:10.0.0.1', 65535],
      [Buffer.alloc(0), '2001:db8::1', 1],
    ];
    for (const [p, a, port] of items) batch.push(p, a, port);
    assert.equal(batch.count, 3);
    const seen: Array<[Buffer, string, number]> = [];
    forEachDatagram(batch.view(), batch.count, (p, a, port) => seen.push([Buffer.from(p), a, port]));
    assert.deepEqual(seen, items);
  });

  it('reports when a datagram no longer fits, and reset() empties it', () => {
    const batch = new DatagramBatch(100);
    assert.equal(batch.fits(86, 9), true); // 5 + 9 + 86 = 100
    assert.equal(batch.fits(87, 9), false);
    batch.push(Buffer.alloc(80), '127.0.0.1', 1);
    assert.equal(batch.fits(10, 9), false);
    batch.reset();
    assert.equal(batch.count, 0);
    assert.equal(batch.view().length, 0);
  });

  it('stops at a truncated buffer instead of reading past it', () => {
    const batch = new DatagramBatch(256);
    batch.push(Buffer.from('abcdef'), '127.0.0.1', 9);
    const cut = batch.view().subarray(0, batch.view().length - 2);
    const seen: Buffer[] = [];
    forEachDatagram(cut, 1, (p) => seen.push(p));
    // subarray past the end is clamped: the payload is short, never garbage from elsewhere.
    assert.ok(seen.length <= 1 && (seen[0]?.length ?? 0) <= 6);
  });
});
