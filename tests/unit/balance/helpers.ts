import type { BalanceRequest, BalanceTarget } from '../../../src/balance/policy.js';

/** A target whose load tests can set. */
export interface FakeTarget extends BalanceTarget {
  active: number;
}

export function targets(n: number, weights: number[] = []): FakeTarget[] {
  return Array.from({ length: n }, (_, i) => ({ id: `http://10.0.0.${i + 1}:80`, weight: weights[i] ?? 1, active: 0 }));
}

export function request(key = '/', ip = '192.0.2.1', headers: Record<string, string> = {}, cookies: Record<string, string> = {}): BalanceRequest {
  return { clientIp: ip, uri: key, header: (n) => headers[n.toLowerCase()], cookie: (n) => cookies[n] };
}

/** Seeded LCG so random policies are reproducible. */
export function seeded(seed = 42): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

