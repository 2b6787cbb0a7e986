import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnomalyError } from '../../../src/core/errors.js';
import { parseDuration, parseSize } from '../../../src/config/index.js';
import { closestName } from '../../../src/config/suggest.js';

describe('parseDuration', () => {
  it('reads numbers as milliseconds and strings with units', () => {
    assert.equal(parseDuration(250), 250);
    assert.equal(parseDuration(0), 0);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration(' 10 S '), 10_000);
  });

  it('rejects bad values with a message naming the value and the expected form', () => {
    assert.equal(parseDuration('30d'), 30 * 86_400_000);
    for (const bad of ['10', '10 sec', 's', '-5s', '', '1w']) {
      assert.throws(() => parseDuration(bad), (err: unknown) => {
        assert.ok(err instanceof AnomalyError);
        assert.equal(err.code, 'ANOMALY_E_CONFIG_INVALID');
        assert.equal(err.message, `invalid duration ${JSON.stringify(bad)}: expected a duration: a number of milliseconds or a string like "500ms", "10s", "2m", "1h", "30d"`);
        return true;
      });
    }
    assert.throws(() => parseDuration(-1), /invalid duration -1/);
    assert.throws(() => parseDuration(Number.NaN), /invalid duration NaN/);
  });
});

describe('parseSize', () => {
  it('reads numbers as bytes and strings in powers of 1024', () => {
    assert.equal(parseSize(100), 100);
    assert.equal(parseSize('512b'), 512);
    assert.equal(parseSize('16kb'), 16 * 1024);
    assert.equal(parseSize('10mb'), 10 * 1024 * 1024);
    assert.equal(parseSize('1gb'), 1024 ** 3);
    assert.equal(parseSize('1.5kb'), 1536);
    assert.equal(parseSize('10MB'), 10 * 1024 * 1024);
  });

  it('rejects bad values', () => {
    assert.throws(() => parseSize('10 megs'), /^AnomalyError: invalid size "10 megs": expected a size: a number of bytes or a string like "512b", "16kb", "10mb", "1gb"$/);
    assert.throws(() => parseSize('10'), /invalid size "10"/);
    assert.throws(() => parseSize(1.5), /invalid size 1.5/);
    assert.throws(() => parseSize('1tb'), /invalid size "1tb"/);
  });
});

describe('closestName', () => {
  it('suggests near misses and spelling-convention variants, not unrelated names', () => {
    assert.equal(closestName('statc', ['static', 'respond', 'redirect']), 'static');
    assert.equal(closestName('plane', ['tls', 'plain', 'address']), 'plain');
    assert.equal(closestName('maxBody', ['max_body', 'max_headers']), 'max_body');
    assert.equal(closestName('rediretc', ['static', 'respond', 'redirect']), 'redirect');
    assert.equal(closestName('proxy', ['static', 'respond', 'redirect']), null);
    assert.equal(closestName('key', ['tls']), null);
  });
});
