/**
 * Load-balancing policies behind one interface. A policy only chooses: which targets are usable
 * (healthy, not ejected, under their connection limit, not already tried) is decided by the caller
 * and passed in as a predicate, so every policy skips unusable targets the same way.
 */

/** What a policy may know of a target. `active` is the number of requests in flight to it. */
export interface BalanceTarget {
  readonly id: string;
  readonly weight: number;
  readonly active: number;
}

/** What hashing policies may read from a request. */
export interface BalanceRequest {
  readonly clientIp: string;
  /** The request target as sent (path and query). */
  readonly uri: string;
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
}

export interface BalancePolicy<T extends BalanceTarget = BalanceTarget> {
  readonly name: string;
  /** A usable target, or null when none is. `targets` is the group's full, stable list. */
  pick(targets: readonly T[], usable: (target: T) => boolean, req: BalanceRequest): T | null;
}

export const POLICY_NAMES = ['round_robin', 'weighted_round_robin', 'least_conn', 'random_two', 'ip_hash', 'hash', 'first'] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Where the "hash" policy takes its key from: "header:Name", "cookie:name", "uri" or "path". */
export type HashKey = { kind: 'header' | 'cookie'; name: string } | { kind: 'uri' } | { kind: 'path' };

export function parseHashKey(text: string): HashKey | string {
  if (text === 'uri') return { kind: 'uri' };
  if (text === 'path') return { kind: 'path' };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1).trim();
  if (colon > 0 && name !== '' && (kind === 'header' || kind === 'cookie')) return { kind, name: kind === 'header' ? name.toLowerCase() : name };
  return `"${text}" is not a hash key: use "header:<name>", "cookie:<name>", "uri" or "path"`;
}

export interface PolicyOptions {
  /** For "hash". */
  readonly hashKey?: HashKey;
  /** Random source in [0, 1); tests inject a seeded one. */
  readonly random?: () => number;
}

export function createPolicy<T extends BalanceTarget>(name: PolicyName, targets: readonly T[], options: PolicyOptions = {}): BalancePolicy<T> {
  const random = options.random ?? Math.random;
  switch (name) {
    case 'round_robin':
      return roundRobin();
    case 'weighted_round_robin':
      return weightedRoundRobin(targets.length);
    case 'least_conn':
      return leastConn();
    case 'random_two':
      return randomTwo(random);
    case 'ip_hash':
      return hashRing('ip_hash', targets, (req) => req.clientIp);
    case 'hash':
      return hashRing('hash', targets, keyReader(options.hashKey ?? { kind: 'uri' }));
    case 'first':
      return first();
  }
}

function keyReader(key: HashKey): (req: BalanceRequest) => string {
  switch (key.kind) {
    case 'uri':
      return (req) => req.uri;
    case 'path':
      return (req) => {
        const q = req.uri.indexOf('?');
        return q === -1 ? req.uri : req.uri.slice(0, q);
      };
    case 'header':
      return (req) => req.header(key.name) ?? '';
    case 'cookie':
      return (req) => req.cookie(key.name) ?? '';
  }
}

/** Each target in turn, skipping unusable ones. */
function roundRobin<T extends BalanceTarget>(): BalancePolicy<T> {
  let next = 0;
  return {
    name: 'round_robin',
    pick(targets, usable) {
      const n = targets.length;
      for (let i = 0; i < n; i++) {
        const t = targets[(next + i) % n];
        if (usable(t)) {
          next = (next + i + 1) % n;
          return t;
        }
      }
      return null;
    },
  };
}

/** nginx's smooth weighted round robin: weights 5,1,1 give a a b a c a a, not a a a a a b c. */
function weightedRoundRobin<T extends BalanceTarget>(count: number): BalancePolicy<T> {
  const current = new Array<number>(count).fill(0);
  return {
    name: 'weighted_round_robin',
    pick(targets, usable) {
      let best = -1;
      let total = 0;
      for (let i = 0; i < targets.length; i++) {
        const t = targets[i];
        if (!usable(t)) continue;
        current[i] += t.weight;
        total += t.weight;
        if (best === -1 || current[i] > current[best]) best = i;
      }
      if (best === -1) return null;
      current[best] -= total;
      return targets[best];
    },
  };
}

/** Fewest requests in flight per unit of weight; ties go round robin so idle targets share. */
function leastConn<T extends BalanceTarget>(): BalancePolicy<T> {
  let rotate = 0;
  return {
    name: 'least_conn',
    pick(targets, usable) {
      const n = targets.length;
      let best: T | null = null;
      let bestLoad = Infinity;
      const start = rotate++ % Math.max(n, 1);
      for (let i = 0; i < n; i++) {
        const t = targets[(start + i) % n];
        if (!usable(t)) continue;
        const load = t.active / t.weight;
        if (load < bestLoad) {
          best = t;
          bestLoad = load;
        }
      }
      return best;
    },
  };
}

/** Power of two random choices: pick two usable targets at random, keep the less loaded one. */
function randomTwo<T extends BalanceTarget>(random: () => number): BalancePolicy<T> {
  return {
    name: 'random_two',
    pick(targets, usable) {
      const candidates: T[] = [];
      for (const t of targets) if (usable(t)) candidates.push(t);
      if (candidates.length === 0) return null;
      if (candidates.length === 1) return candidates[0];
      const a = Math.floor(random() * candidates.length);
      let b = Math.floor(random() * (candidates.length - 1));
      if (b >= a) b++;
      const ta = candidates[a];
      const tb = candidates[b];
      return tb.active / tb.weight < ta.active / ta.weight ? tb : ta;
    },
  };
}

/** The first usable target in configured order: a primary with fallbacks. */
function first<T extends BalanceTarget>(): BalancePolicy<T> {
  return {
    name: 'first',
    pick(targets, usable) {
      for (const t of targets) if (usable(t)) return t;
      return null;
    },
  };
}

/** 32-bit FNV-1a: fast, and spreads short keys well enough for a ring. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix32): FNV alone clusters keys that differ in the last character.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const POINTS_PER_WEIGHT = 160;

/**
 * Consistent hashing (a ring of virtual nodes, as ketama): a key maps to the same target while
 * that target is usable, and removing one target moves only the keys it owned. An unusable owner
 * passes its keys to the next distinct target clockwise.
 */
function hashRing<T extends BalanceTarget>(name: string, targets: readonly T[], keyOf: (req: BalanceRequest) => string): BalancePolicy<T> {
  const points: Array<{ hash: number; index: number }> = [];
  targets.forEach((t, index) => {
    const n = POINTS_PER_WEIGHT * Math.max(1, t.weight);
    for (let v = 0; v < n; v++) points.push({ hash: fnv1a(`${t.id}#${v}`), index });
  });
  points.sort((a, b) => a.hash - b.hash);
  const hashes = Uint32Array.from(points, (p) => p.hash);
  const owners = Uint16Array.from(points, (p) => p.index);
  return {
    name,
    pick(list, usable, req) {
      if (hashes.length === 0) return null;
      const h = fnv1a(keyOf(req));
      // First point at or after h (binary search), wrapping around.
      let lo = 0;
      let hi = hashes.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (hashes[mid] < h) lo = mid + 1;
        else hi = mid;
      }
      const seen = new Set<number>();
      for (let i = 0; i < hashes.length && seen.size < list.length; i++) {
        const index = owners[(lo + i) % hashes.length];
        if (seen.has(index)) continue;
        seen.add(index);
        if (usable(list[index])) return list[index];
      }
      return null;
    },
  };
}
