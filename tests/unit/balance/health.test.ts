import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ActiveHealth } from '../../../src/balance/active.js';
import { PassiveHealth } from '../../../src/balance/passive.js';

describe('passive health', () => {
  it('ejects after N failures inside the window, for eject_for, then lets the target back', () => {
    let now = 1000;
    const h = new PassiveHealth({ fails: 3, window: 1000, ejectFor: 5000 }, () => now);
    assert.equal(h.failed(), false);
    now += 100;
    assert.equal(h.failed(), false);
    assert.equal(h.ejected, false);
    now += 100;
    assert.equal(h.failed(), true);
    assert.equal(h.ejected, true);
    assert.equal(h.ejections, 1);
    now += 4999;
    assert.equal(h.ejected, true);
    now += 1;
    assert.equal(h.ejected, false);
  });
  it('failures spread wider than the window do not eject', () => {
    let now = 0;
    const h = new PassiveHealth({ fails: 2, window: 1000, ejectFor: 5000 }, () => now);
    h.failed();
    now += 1500;
    assert.equal(h.failed(), false);
    now += 500;
    assert.equal(h.failed(), true);
  });
  it('a success clears the count', () => {
    const h = new PassiveHealth({ fails: 2, window: 10_000, ejectFor: 5000 });
    h.failed();
    h.succeeded();
    assert.equal(h.failed(), false);
  });
});

describe('active health', () => {
  it('goes down after `unhealthy` consecutive failures and up after `healthy` successes', () => {
    const h = new ActiveHealth({ interval: 1000, healthy: 2, unhealthy: 3 });
    assert.equal(h.up, true);
    assert.equal(h.record(false), null);
    assert.equal(h.record(false), null);
    assert.equal(h.record(true), null); // streak broken
    assert.equal(h.record(false), null);
    assert.equal(h.record(false), null);
    assert.equal(h.record(false), 'down');
    assert.equal(h.up, false);
    assert.equal(h.record(true), null);
    assert.equal(h.record(true), 'up');
    assert.equal(h.up, true);
  });
});
