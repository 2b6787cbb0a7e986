import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPolicy, fnv1a, parseHashKey } from '../../../src/balance/policy.js';
import { request, seeded, targets } from './helpers.js';

const all = (): boolean => true;

describe('round_robin', () => {
  it('cycles in order and skips unusable targets', () => {
    const list = targets(3);
    const p = createPolicy('round_robin', list);
    assert.deepEqual([0, 1, 2, 3].map(() => list.indexOf(p.pick(list, all, request())!)), [0, 1, 2, 0]);
    assert.deepEqual([0, 1, 2].map(() => list.indexOf(p.pick(list, (t) => t !== list[2], request())!)), [1, 0, 1]);
  });
});

describe('weighted_round_robin', () => {
  it('is smooth: weights 5,1,1 interleave (nginx order)', () => {
    const list = targets(3, [5, 1, 1]);
    const p = createPolicy('weighted_round_robin', list);
    const order = Array.from({ length: 7 }, () => 'abc'[list.indexOf(p.pick(list, all, request())!)]).join('');
    assert.equal(order, 'aabacaa');
  });
  it('shares by weight over many picks', () => {
    const list = targets(2, [3, 1]);
    const p = createPolicy('weighted_round_robin', list);
    let a = 0;
    for (let i = 0; i < 400; i++) if (p.pick(list, all, request()) === list[0]) a++;
    assert.equal(a, 300);
  });
});

describe('least_conn', () => {
  it('picks the target with the fewest requests in flight per weight', () => {
    const list = targets(3, [1, 1, 4]);
    list[0].active = 2;
    list[1].active = 1;
    list[2].active = 3; // 3/4 < 1
    const p = createPolicy('least_conn', list);
    assert.equal(p.pick(list, all, request()), list[2]);
    list[2].active = 8;
    assert.equal(p.pick(list, all, request()), list[1]);
  });
});

describe('random_two', () => {
  it('of the two sampled, takes the less loaded: the busiest target is rarely chosen', () => {
    const list = targets(3);
    list[0].active = 100;
    const p = createPolicy('random_two', list, { random: seeded(7) });
    let busiest = 0;
    for (let i = 0; i < 300; i++) if (p.pick(list, all, request()) === list[0]) busiest++;
    assert.equal(busiest, 0);
  });
});

describe('ip_hash', () => {
  it('sends one client to one target, different clients spread', () => {
    const list = targets(4);
    const p = createPolicy('ip_hash', list);
    const t = p.pick(list, all, request('/', '198.51.100.7'));
    for (let i = 0; i < 20; i++) assert.equal(p.pick(list, all, request(`/other${i}`, '198.51.100.7')), t);
  });
});

describe('hash (consistent)', () => {
  it('keys on a header, a cookie, the uri or the path', () => {
    const list = targets(5);
    const byHeader = createPolicy('hash', list, { hashKey: { kind: 'header', name: 'x-user' } });
    const a = byHeader.pick(list, all, request('/1', '1.1.1.1', { 'x-user': 'alice' }));
    assert.equal(byHeader.pick(list, all, request('/2', '2.2.2.2', { 'x-user': 'alice' })), a);
    const byCookie = createPolicy('hash', list, { hashKey: { kind: 'cookie', name: 'sid' } });
    const c = byCookie.pick(list, all, request('/1', '1.1.1.1', {}, { sid: 'abc' }));
    assert.equal(byCookie.pick(list, all, request('/9', '9.9.9.9', {}, { sid: 'abc' })), c);
    const byPath = createPolicy('hash', list, { hashKey: { kind: 'path' } });
    assert.equal(byPath.pick(list, all, request('/img?a=1')), byPath.pick(list, all, request('/img?b=2')));
  });
  it('removing one of five targets moves only the keys it owned', () => {
    const list = targets(5);
    const p = createPolicy('hash', list, { hashKey: { kind: 'uri' } });
    const before = new Map<string, string>();
    for (let i = 0; i < 2000; i++) before.set(`/k${i}`, p.pick(list, all, request(`/k${i}`))!.id);
    let moved = 0;
    const gone = list[3];
    for (const [key, id] of before) {
      const now = p.pick(list, (t) => t !== gone, request(key))!.id;
      if (id !== gone.id && now !== id) moved++;
    }
    assert.equal(moved, 0);
    const share = [...before.values()].filter((id) => id === gone.id).length / before.size;
    assert.ok(share > 0.1 && share < 0.3, `owner share ${share}`);
  });
  it('parses hash_key and explains a bad one', () => {
    assert.deepEqual(parseHashKey('header:X-User'), { kind: 'header', name: 'x-user' });
    assert.deepEqual(parseHashKey('cookie:sid'), { kind: 'cookie', name: 'sid' });
    assert.deepEqual(parseHashKey('uri'), { kind: 'uri' });
    assert.match(parseHashKey('query:x') as string, /not a hash key/);
  });
  it('fnv1a is stable', () => {
    assert.equal(fnv1a('abc'), fnv1a('abc'));
    assert.notEqual(fnv1a('abc'), fnv1a('abd'));
  });
});

describe('first', () => {
  it('prefers the first usable target in configured order', () => {
    const list = targets(3);
    const p = createPolicy('first', list);
    assert.equal(p.pick(list, all, request()), list[0]);
    assert.equal(p.pick(list, (t) => t !== list[0], request()), list[1]);
  });
});
