import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBinding, type NativeQuicServer } from '../../../src/protocols/http3/native.js';
import { DatagramBatch } from '../../../src/protocols/http3/packets.js';
import { ensureLocalCA } from '../../../src/tls/local-ca.js';

// The binding is built by `npm install` (cargo). Locally without cargo this suite skips; in CI it must run.
const loaded = loadBinding();
const skip = loaded.binding === null && process.env.CI !== 'true' ? `QUIC binding unavailable: ${loaded.error}` : false;

/** A long-header Initial (version 1) with random connection IDs and an undecryptable payload. */
function fakeInitial(size = 1200): Buffer {
  const b = Buffer.alloc(size);
  b[0] = 0xc3;
  b.writeUInt32BE(1, 1);
  b[5] = 8;
  randomBytes(8).copy(b, 6);
  b[14] = 8;
  randomBytes(8).copy(b, 15);
  b[23] = 0; // token length
  b.writeUInt16BE(0x4000 | (size - 26), 24);
  randomBytes(size - 26).copy(b, 26);
  return b;
}

describe('native QUIC server under junk datagrams', { skip }, () => {
  let dir = '';
  let quic: NativeQuicServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'anomaly-h3-unit-'));
    const ca = await ensureLocalCA(dir);
    const issued = await ca.issue(['localhost']);
    writeFileSync(join(dir, 'c.pem'), issued.cert);
    writeFileSync(join(dir, 'k.pem'), issued.key);
    const binding = loadBinding().binding;
    assert.ok(binding, 'binding');
    quic = new binding.QuicServer({
      certPath: join(dir, 'c.pem'),
      keyPath: join(dir, 'k.pem'),
      localAddress: '127.0.0.1',
      localPort: 4433,
      idleTimeoutMs: 30_000,
      maxStreamsBidi: 100,
      maxFieldSectionSize: 16_384,
      maxConnections: 1000,
      cidPrefix: 0,
      streamWindow: 256 * 1024,
      connectionWindow: 4 * 1024 * 1024,
    });
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('survives 100k random, truncated and bit-flipped datagrams with bounded state', () => {
    const batch = new DatagramBatch(512 * 1024);
    const template = fakeInitial();
    const rssBefore = process.memoryUsage().rss;
    let answered = 0;
    for (let i = 0; i < 100_000; i++) {
      let d: Buffer;
      switch (i % 5) {
        case 0:
          d = randomBytes(1 + (i % 1400));
          break;
        case 1:
          d = template.subarray(0, 1 + (i % template.length));
          break;
        case 2: {
          d = Buffer.from(template);
          d[i % d.length] ^= 1 << (i % 8);
          break;
        }
        case 3:
          d = fakeInitial(1200 + (i % 150));
          break;
        default: {
          // Short header with an unknown connection ID; an unsupported version, small (dropped) or
          // padded to 1200 bytes (→ version negotiation).
          d = randomBytes(i % 3 === 0 ? 1200 : 60);
          d[0] = i % 2 === 0 ? 0x40 : 0xc0;
          if (i % 2 === 1) d.writeUInt32BE(0x0a0a0a0a, 1);
        }
      }
      if (!batch.fits(d.length, 9)) {
        answered += quic.drive(batch.view(), batch.count).count;
        batch.reset();
      }
      batch.push(d, '127.0.0.1', 1000 + (i % 5000));
    }
    answered += quic.drive(batch.view(), batch.count).count;
    const stats = quic.stats();
    // Nothing decrypts, so no connection may stay behind; version negotiation is the only answer.
    assert.equal(stats.connections, 0);
    assert.equal(stats.streams, 0);
    assert.ok(stats.dropped > 10_000, `dropped ${stats.dropped}`);
    assert.ok(answered > 0 && answered < 20_000, `answered ${answered}`);
    const grownMb = (process.memoryUsage().rss - rssBefore) / 1048576;
    assert.ok(grownMb < 64, `RSS grew ${grownMb.toFixed(1)} MB`);
  });

  it('drive() with an empty batch and a garbled packed buffer is harmless', () => {
    assert.equal(quic.drive(Buffer.alloc(0), 0).count, 0);
    assert.equal(quic.drive(Buffer.from([0xff, 0xff, 0, 1, 200]), 5).count, 0);
    const r = quic.drive(Buffer.alloc(0), 0);
    assert.equal(r.timeout, -1);
  });

  it('commands for unknown connections and streams are ignored', () => {
    assert.equal(quic.respond(42, 0, ':status\u0000200', Buffer.from('x'), true), false);
    assert.equal(quic.sendBody(42, 0, Buffer.from('x'), true), -1);
    quic.resetStream(42, 0, 0x10c);
    quic.stopReading(42, 0);
    quic.setReading(42, 0, false);
    quic.closeConnection(42, 0x100, '');
    assert.equal(quic.stats().connections, 0);
  });
});
