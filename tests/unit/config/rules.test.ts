import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkHost, checkMethod, checkRoutePath, normaliseHost } from '../../../src/config/rules.js';

describe('host rules', () => {
  it('accepts names, wildcards and addresses', () => {
    for (const ok of ['localhost', 'example.com', '*.example.com', 'A-1.Example.COM', '127.0.0.1', '[::1]', '::1', 'example.com.', 'my_host.local']) {
      assert.equal(checkHost(ok), null, ok);
    }
  });

  it('lower-cases, drops a trailing dot and brackets IPv6', () => {
    assert.equal(normaliseHost('WWW.Example.com'), 'www.example.com');
    assert.equal(normaliseHost('example.com.'), 'example.com');
    assert.equal(normaliseHost('::1'), '[::1]');
    assert.equal(normaliseHost('*.Example.com'), '*.example.com');
  });

  it('rejects wildcards that are not a leading "*." and other mistakes', () => {
    assert.equal(checkHost('a.*.com'), 'invalid host "a.*.com": "*" is only allowed as a leading "*." (like "*.example.com")');
    assert.equal(checkHost('*example.com'), 'invalid host "*example.com": "*" is only allowed as a leading "*." (like "*.example.com")');
    assert.equal(checkHost('*.*.example.com'), 'invalid host "*.*.example.com": "*" is only allowed as a leading "*." (like "*.example.com")');
    assert.equal(checkHost('*'), 'invalid host "*": to match every host, omit "hosts" (the default site)');
    assert.equal(checkHost('localhost:8443'), 'invalid host "localhost:8443": hosts have no port (ports are set under "listen")');
    assert.equal(checkHost('https://example.com'), 'invalid host "https://example.com": a host name, not a URL');
    assert.equal(checkHost('example.com/x'), 'invalid host "example.com/x": a host name, not a URL');
    assert.equal(checkHost('-bad.com'), 'invalid host "-bad.com": use letters, digits and "-" in dot-separated labels');
    assert.equal(checkHost('a..com'), 'invalid host "a..com": use letters, digits and "-" in dot-separated labels');
    assert.equal(checkHost(''), 'must not be empty (omit "hosts" for the default site)');
  });
});

describe('route path rules', () => {
  it('accepts exact paths, params and a trailing wildcard', () => {
    for (const ok of ['/', '/hello', '/docs/', '/users/:id', '/a/:x/b/:y', '/static/*', '/files/*rest', '/*', '/a:b']) {
      assert.equal(checkRoutePath(ok), null, ok);
    }
  });

  it('rejects the rest with a reason', () => {
    assert.equal(checkRoutePath('hello'), 'must start with "/", got "hello"');
    assert.equal(checkRoutePath('/a/*/b'), '"*" is only allowed in the last segment, got "/a/*/b"');
    assert.equal(checkRoutePath('/a*'), '"*" must be a whole segment ("*" or "*name"), got "/a*"');
    assert.equal(checkRoutePath('/a/**'), '"*" must be a whole segment ("*" or "*name"), got "/a/**"');
    assert.equal(checkRoutePath('/users/:'), 'invalid parameter ":": use ":" then letters, digits and "_"');
    assert.equal(checkRoutePath('/users/:1d'), 'invalid parameter ":1d": use ":" then letters, digits and "_"');
    assert.equal(checkRoutePath('/a/:id/b/:id'), 'parameter "id" is used twice in "/a/:id/b/:id"');
    assert.equal(checkRoutePath('/a/:rest/*rest'), 'parameter "rest" is used twice in "/a/:rest/*rest"');
    assert.equal(checkRoutePath('/a//b'), 'empty segment ("//") in "/a//b"');
    assert.equal(checkRoutePath('/a?b=1'), 'must be a plain path without spaces, "?" or "#", got "/a?b=1"');
  });
});

describe('method rules', () => {
  it('accepts tokens only', () => {
    assert.equal(checkMethod('GET'), null);
    assert.equal(checkMethod('M-SEARCH'), null);
    assert.equal(checkMethod('GET POST'), 'invalid method "GET POST"');
  });
});
