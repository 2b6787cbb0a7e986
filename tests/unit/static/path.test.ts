import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveRequestPath } from '../../../src/handlers/static/path.js';

const policy = { hideDotfiles: true };

function status(raw: string, p = policy): number {
  const r = resolveRequestPath(raw, p);
  return r.ok ? 200 : r.status;
}

test('plain paths decode once into segments', () => {
  assert.deepEqual(resolveRequestPath('css/a.css', policy), { ok: true, segments: ['css', 'a.css'], trailingSlash: false });
  assert.deepEqual(resolveRequestPath('a%20b/c%2520d', policy), { ok: true, segments: ['a b', 'c%20d'], trailingSlash: false });
  assert.deepEqual(resolveRequestPath('', policy), { ok: true, segments: [], trailingSlash: true });
  assert.deepEqual(resolveRequestPath('docs/', policy), { ok: true, segments: ['docs'], trailingSlash: true });
  assert.deepEqual(resolveRequestPath('/a//b', policy), { ok: true, segments: ['a', 'b'], trailingSlash: false });
  assert.deepEqual(resolveRequestPath('%C3%A9t%C3%A9.txt', policy), { ok: true, segments: ['été.txt'], trailingSlash: false });
});

test('dot segments are refused, raw or encoded', () => {
  for (const raw of ['..', '../etc/passwd', 'a/../../b', '.', 'a/./b', '%2e%2e/x', '%2E%2E/x', '%2e./x', '.%2e/x', 'a/%2e', '...', 'a/....']) {
    assert.equal(status(raw), 400, raw);
  }
});

test('double encoding stays a literal name', () => {
  const r = resolveRequestPath('%252e%252e/%252e%252e/etc/passwd', policy);
  assert.equal(r.ok, true);
  assert.deepEqual(r.ok && r.segments, ['%2e%2e', '%2e%2e', 'etc', 'passwd']);
});

test('separators and NUL smuggled in encoded form are refused', () => {
  for (const raw of ['a%2fb', 'a%2Fb', '..%2f..%2fetc', 'a%5cb', 'a\\b', '..\\..\\etc', 'a%00.txt', 'a\0b', '%c0%ae%c0%ae/x', '%e0%80%ae', '%zz', '%', 'a%2', '%ff']) {
    assert.equal(status(raw), 400, raw);
  }
});

test('control characters are refused', () => {
  assert.equal(status('a%0ab'), 400);
  assert.equal(status('a%7f'), 400);
});

test('dotfiles are hidden unless configured, .well-known is served', () => {
  assert.equal(status('.env'), 404);
  assert.equal(status('.git/config'), 404);
  assert.equal(status('a/.htpasswd'), 404);
  assert.equal(status('%2egit/config'), 404);
  assert.equal(status('.well-known/acme-challenge/x'), 200);
  assert.equal(status('.env', { hideDotfiles: false }), 200);
  assert.equal(status('..', { hideDotfiles: false }), 400);
});

test('overlong names are not found', () => {
  assert.equal(status('a'.repeat(300)), 404);
});
