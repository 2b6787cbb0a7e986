import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPolicy, POLICY_NAMES, type PolicyName } from '../../../src/balance/policy.js';
import { request, seeded, targets, type FakeTarget } from './helpers.js';

const all = (): boolean => true;

// One contract, every policy: what any balancer must guarantee whatever its strategy.
for (const name of POLICY_NAMES) {
  describe(`balance policy contract: ${name}`, () => {
    const make = (list: FakeTarget[]) => createPolicy<FakeTarget>(name as PolicyName, list, { random: seeded(), hashKey: { kind: 'uri' } });

    it('returns null when no target is usable, and for an empty group', () => {
      const list = targets(3);
      assert.equal(make(list).pick(list, () => false, request()), null);
      assert.equal(make([]).pick([], all, request()), null);
    });

    it('only ever returns a usable target from the list', () => {
      const list = targets(5);
      const policy = make(list);
      const usable = (t: FakeTarget) => t !== list[1] && t !== list[3];
      for (let i = 0; i < 500; i++) {
        const t = policy.pick(list, usable, request(`/k${i}`, `198.51.100.${i % 250}`));
        assert.ok(t !== null && list.includes(t) && usable(t), `pick ${i} returned ${t?.id}`);
      }
    });

    it('returns the only usable target when one is left (failover)', () => {
      const list = targets(4);
      const policy = make(list);
      for (let i = 0; i < 50; i++) assert.equal(policy.pick(list, (t) => t === list[2], request(`/x${i}`, `203.0.113.${i}`)), list[2]);
    });

    it('uses every target for varied traffic, except "first" which sticks to the primary', () => {
      const list = targets(3);
      const policy = make(list);
      const seen = new Set<string>();
      for (let i = 0; i < 300; i++) seen.add(policy.pick(list, all, request(`/path/${i}`, `198.51.100.${i % 250}`))?.id ?? 'none');
      if (name === 'first') assert.deepEqual([...seen], [list[0].id]);
      else assert.equal(seen.size, 3, `seen ${[...seen].join(', ')}`);
    });

    it('moves traffic back to a target once it is usable again', () => {
      const list = targets(3);
      const policy = make(list);
      const down = (t: FakeTarget) => t !== list[0];
      for (let i = 0; i < 30; i++) assert.notEqual(policy.pick(list, down, request(`/a${i}`)), list[0]);
      let back = false;
      for (let i = 0; i < 300 && !back; i++) back = policy.pick(list, all, request(`/a${i}`, `198.51.100.${i % 250}`)) === list[0];
      assert.ok(back);
    });
  });
}
