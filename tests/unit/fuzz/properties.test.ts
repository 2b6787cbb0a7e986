/**
 * Property and fuzz tests (fast-check) for the parsers and resolvers that see attacker-controlled
 * input: static path resolution, routing, request headers, the HTTP/1.1 head rules, Cache-Control,
 * the cache's entry codec, and config parsing. Each property runs FUZZ_RUNS random inputs (set
 * FUZZ_RUNS=100000 for a long run) mixed with the corpus in tests/fuzz-corpus/.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { parseCacheControl } from '../../../src/cache/cache-control.js';
import { decodeEntry } from '../../../src/cache/entry.js';
import { ConfigError, createConfigParser } from '../../../src/config/index.js';
import { HeaderMap } from '../../../src/core/headers.js';
import { resolveRequestPath } from '../../../src/handlers/static/path.js';
import { checkHead } from '../../../src/protocols/http1/head-rules.js';
import { compilePattern } from '../../../src/server/router.js';
import { standardModules } from '../../../src/standard.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const HERE = fileURLToPath(new URL('.', import.meta.url));
// dist/tests/unit/fuzz -> the source tree's tests/fuzz-corpus
const CORPUS = resolve(HERE, '..', '..', '..', '..', 'tests', 'fuzz-corpus');

function corpus(name: string): string[] {
  return readFileSync(join(CORPUS, name), 'utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));
}

/** URL-path-like strings: separators, dots, percent escapes (valid and broken), controls, unicode. */
const pathChars = fc.constantFrom('/', '.', '..', '%', '%2e', '%2E', '%2f', '%5c', '%00', '%25', '\\', 'a', 'é', '~', ' ', '\u0001', '%ff', '%c0%ae', '.well-known', '.env');
const urlPath = fc.oneof(
  fc.array(pathChars, { maxLength: 24 }).map((a) => a.join('')),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.constantFrom(...corpus('paths.txt')),
);

describe('fuzz: static path resolution', () => {
  it('never throws, and an accepted path never leaves the root', () => {
    const root = resolve('/srv/site');
    fc.assert(
      fc.property(urlPath, fc.boolean(), (raw, hideDotfiles) => {
        const r = resolveRequestPath(raw, { hideDotfiles });
        if (!r.ok) return;
        for (const s of r.segments) {
          assert.ok(s !== '' && s !== '.' && s !== '..', `segment ${JSON.stringify(s)}`);
          assert.ok(!s.includes('/') && !s.includes('\\') && !s.includes('\0'), `segment ${JSON.stringify(s)}`);
        }
        const target = join(root, ...r.segments);
        const rel = relative(root, target);
        // ("..;" or "...x" are ordinary names: only a first component of exactly ".." climbs out)
        assert.ok(rel === '' || (rel.split(sep)[0] !== '..' && !rel.startsWith(sep)), `${JSON.stringify(raw)} -> ${target}`);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: routing', () => {
  const segment = fc.stringMatching(/^[a-z0-9._~-]{1,8}$/);
  it('prefix patterns match exactly the paths under them, with the rest as the param', () => {
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 4 }), urlPath, (prefixParts, tail) => {
        const prefix = prefixParts.length === 0 ? '' : '/' + prefixParts.join('/');
        const match = compilePattern(`${prefix}/*rest`);
        const path = `${prefix}/${tail.replace(/^\/+/, '')}`;
        const params = match(path);
        assert.ok(params !== null, path);
        assert.equal(params.rest, path.slice(prefix.length + 1));
        if (prefix !== '') assert.equal(match(`${prefix}x${path.slice(prefix.length)}`), null);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on any path, and a ":name" param never spans a slash', () => {
    const patterns = ['/users/:id', '/a/:x/b/:y', '/files/*', '/exact', '/*', '/t/:tenant/*rest'].map((p) => compilePattern(p));
    fc.assert(
      fc.property(urlPath, (raw) => {
        const path = raw.startsWith('/') ? raw : '/' + raw;
        for (const match of patterns) {
          const params = match(path);
          if (params === null) continue;
          for (const [name, value] of Object.entries(params)) {
            if (name !== 'rest' && name !== '*' && value.includes('/')) {
              // decoded %2f inside one segment is allowed; a raw slash is not
              assert.ok(!path.split('/').includes(value), `${name}=${value} from ${path}`);
            }
          }
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: request headers', () => {
  const name = fc.oneof(fc.constantFrom('Host', 'host', 'HOST', 'Cookie', 'cookie', 'X-A', 'x-a', ':path', ':authority', 'Content-Length'), fc.stringMatching(/^[A-Za-z-]{1,10}$/));
  const value = fc.string({ maxLength: 20 });
  it('lookups are case-insensitive, keep every value in order, and skip pseudo-headers', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 30 }), (pairs) => {
        const raw = pairs.flat();
        const h = new HeaderMap(raw);
        const expected = new Map<string, string[]>();
        for (const [n, v] of pairs) {
          if (n.startsWith(':')) continue;
          const k = n.toLowerCase();
          expected.set(k, [...(expected.get(k) ?? []), v]);
        }
        assert.equal(h.size, expected.size);
        for (const [k, values] of expected) {
          assert.deepEqual(h.getAll(k.toUpperCase()), values);
          assert.equal(h.get(k), values.join(k === 'cookie' ? '; ' : ', '));
        }
        for (const k of h.keys()) assert.equal(k, k.toLowerCase());
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: HTTP/1.1 head rules', () => {
  it('never throw; an accepted head has an origin-form target and a Host without separators', () => {
    const target = fc.oneof(urlPath, fc.constantFrom('*', 'http://a/b', 'https://u@h/', 'HTTP://X', 'http://[::1]:80/x?y', 'ftp://a/'), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(target, fc.string({ maxLength: 30 }), fc.integer({ min: 0, max: 2 }), fc.option(fc.string({ maxLength: 20 })), fc.constantFrom(0, 1, 2), (url, host, hosts, te, minor) => {
        const nreq = { url, httpVersionMajor: minor === 2 ? 2 : 1, httpVersionMinor: minor === 2 ? 0 : minor } as unknown as Parameters<typeof checkHead>[0];
        const r = checkHead(nreq, { host, hosts, transferEncoding: te });
        if (typeof r === 'string') return;
        assert.ok(!/[\s/@]/.test(r.authority) || r.authority.startsWith('['), r.authority);
        assert.ok(r.target === '*' || !/^https?:\/\//i.test(r.target), r.target);
        assert.ok(!r.target.includes('#'));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: cache', () => {
  it('Cache-Control parsing never throws and gives non-negative ages', () => {
    const token = fc.constantFrom('max-age', 's-maxage', 'no-store', 'no-cache', 'private', 'public', 'must-revalidate', 'stale-while-revalidate', 'stale-if-error', 'x');
    const directive = fc.tuple(token, fc.option(fc.oneof(fc.integer({ min: -5, max: 1e12 }).map(String), fc.string({ maxLength: 6 }), fc.constant('"3"')))).map(([t, v]) => (v === null ? t : `${t}=${v}`));
    fc.assert(
      fc.property(fc.oneof(fc.array(directive, { maxLength: 8 }).map((a) => a.join(', ')), fc.string({ maxLength: 60 })), (header) => {
        const cc = parseCacheControl(header) as unknown as Record<string, unknown>;
        for (const [k, v] of Object.entries(cc)) {
          if (typeof v === 'number') assert.ok(v >= 0 && Number.isFinite(v), `${k}=${v} from ${header}`);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('the stored-entry decoder rejects garbage instead of throwing', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        decodeEntry(bytes); // null or an entry; never an exception
      }),
      { numRuns: RUNS },
    );
  });
});

describe('fuzz: config parsing', () => {
  const parser = createConfigParser(standardModules()); // compiling the schema once: it is the slow part
  const yamlish = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.constantFrom(...corpus('configs.txt')),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ sites: [{ routes: [{ path: '/', respond: v }] }] })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ listen: v, sites: [{ routes: [{ path: '/', respond: {} }] }] })),
    fc.dictionary(fc.constantFrom('listen', 'limits', 'sites', 'log', 'workers', 'storage', 'upstreams', 'caches', 'x'), fc.jsonValue({ maxDepth: 3 })).map((o) => JSON.stringify(o)),
  );
  it('a config either loads or is refused with a ConfigError, never another exception', () => {
    fc.assert(
      fc.property(yamlish, (text) => {
        try {
          parser.parse(text, '/fuzz/anomaly.yaml');
        } catch (err) {
          assert.ok(err instanceof ConfigError, `${(err as Error)?.stack ?? String(err)}\nfor ${JSON.stringify(text).slice(0, 300)}`);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
