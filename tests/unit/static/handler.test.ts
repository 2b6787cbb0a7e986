import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from 'node:zlib';
import { AnomalyError, ErrorCodes } from '../../../src/core/errors.js';
import { silentLogger } from '../../../src/core/logger.js';
import type { ProvisionedHandler } from '../../../src/core/module.js';
import { isFileBody, type Response } from '../../../src/core/response.js';
import { staticModule } from '../../../src/handlers/static/index.js';
import { bodyOf, handlerFor, header, makeSite, request, type Site } from './helpers.js';

const CSS = 'body { color: red; }\n'.repeat(200); // 4.2 KB, compressible
const BIG = Buffer.alloc(300 * 1024, 'abcdefghij'); // over max_file_size: served from disk
const SECRET = 'TOP-SECRET-MARKER';

describe('static handler', () => {
  let site: Site;
  let h: ProvisionedHandler;
  const get = async (target: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Response> => h.handle(request(target, headers, method));

  before(async () => {
    site = makeSite({
      'index.html': '<h1>home</h1>',
      'a.css': CSS,
      'small.txt': 'hello',
      'img.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 3]),
      'docs/index.html': '<h1>docs</h1>',
      'empty-dir/.keep': '',
      'list/b.txt': 'b',
      'list/a <&>.txt': 'a',
      'list/sub/x.txt': 'x',
      'list/.hidden': 'h',
      'pre/app.js': 'console.log("plain")\n'.repeat(100),
      'pre/app.js.br': brotliCompressSync('console.log("brotli")'),
      'pre/app.js.gz': gzipSync('console.log("gzip")'),
      'big.txt': BIG,
      '.env': SECRET,
      '.well-known/security.txt': 'contact: x',
      'a b.txt': 'spaced',
      '%2e%2e': 'literal',
    });
    writeFileSync(join(site.root, '..', 'secret.txt'), SECRET);
    symlinkSync(join(site.root, '..', 'secret.txt'), join(site.root, 'escape.txt'));
    symlinkSync(join(site.root, 'small.txt'), join(site.root, 'inside-link.txt'));
    h = await handlerFor({ root: site.root, listing: false, cache_control: 'public, max-age=60' });
  });

  after(async () => {
    await h.dispose?.();
    site.rm();
  });

  test('serves a file with type, validators and cache-control', async () => {
    const res = await get('/small.txt');
    assert.equal(res.status, 200);
    assert.equal((await bodyOf(res)).toString(), 'hello');
    assert.equal(header(res, 'content-type'), 'text/plain; charset=utf-8');
    assert.match(header(res, 'etag') ?? '', /^"[0-9a-f]+-5"$/);
    assert.ok(header(res, 'last-modified')?.endsWith('GMT'));
    assert.equal(header(res, 'cache-control'), 'public, max-age=60');
    assert.equal(header(res, 'accept-ranges'), 'bytes');
    assert.equal(header(res, 'content-encoding'), undefined);
    assert.equal(header((await get('/img.png')), 'content-type'), 'image/png');
  });

  test('hits return a shared frozen header object synchronously', async () => {
    await get('/small.txt');
    const a = h.handle(request('/small.txt'));
    const b = h.handle(request('/small.txt'));
    assert.ok(!(a instanceof Promise) && !(b instanceof Promise));
    assert.equal((a as Response).headers, (b as Response).headers);
    assert.ok(Object.isFrozen((a as Response).headers));
  });

  test('304 on If-None-Match and If-Modified-Since; 412 on If-Match', async () => {
    const first = await get('/small.txt');
    const etag = header(first, 'etag') as string;
    const lm = header(first, 'last-modified') as string;
    const r1 = await get('/small.txt', { 'If-None-Match': etag });
    assert.equal(r1.status, 304);
    assert.equal(r1.body, null);
    assert.equal(header(r1, 'etag'), etag);
    assert.equal(header(r1, 'cache-control'), 'public, max-age=60');
    assert.equal((await get('/small.txt', { 'if-none-match': `"x", W/${etag}` })).status, 304);
    assert.equal((await get('/small.txt', { 'if-none-match': '*' })).status, 304);
    assert.equal((await get('/small.txt', { 'if-none-match': '"nope"' })).status, 200);
    assert.equal((await get('/small.txt', { 'if-modified-since': lm })).status, 304);
    assert.equal((await get('/small.txt', { 'if-modified-since': 'Thu, 01 Jan 1998 00:00:00 GMT' })).status, 200);
    assert.equal((await get('/small.txt', { 'if-none-match': '"nope"', 'if-modified-since': lm })).status, 200);
    assert.equal((await get('/small.txt', { 'if-match': '"nope"' })).status, 412);
    assert.equal((await get('/small.txt', { 'if-match': etag })).status, 200);
    assert.equal((await get('/small.txt', { 'if-unmodified-since': 'Thu, 01 Jan 1998 00:00:00 GMT' })).status, 412);
    assert.equal((await get('/big.txt', { 'if-none-match': header(await get('/big.txt'), 'etag') as string })).status, 304);
  });

  test('single range, multipart ranges, 416, If-Range, HEAD ignores Range', async () => {
    const r = await get('/a.css', { range: 'bytes=0-3' });
    assert.equal(r.status, 206);
    assert.equal((await bodyOf(r)).toString(), 'body');
    assert.equal(header(r, 'content-range'), `bytes 0-3/${CSS.length}`);
    assert.equal(header(r, 'content-encoding'), undefined); // no on-the-fly compression for ranges

    const suffix = await get('/small.txt', { range: 'bytes=-2' });
    assert.equal((await bodyOf(suffix)).toString(), 'lo');
    const open = await get('/small.txt', { range: 'bytes=1-' });
    assert.equal((await bodyOf(open)).toString(), 'ello');

    const m = await get('/small.txt', { range: 'bytes=0-0,3-4' });
    assert.equal(m.status, 206);
    const ct = header(m, 'content-type') as string;
    assert.match(ct, /^multipart\/byteranges; boundary=/);
    const boundary = ct.split('boundary=')[1];
    const text = (await bodyOf(m)).toString();
    assert.ok(text.includes(`--${boundary}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-range: bytes 0-0/5\r\n\r\nh\r\n`));
    assert.ok(text.includes('content-range: bytes 3-4/5\r\n\r\nlo\r\n'));
    assert.ok(text.endsWith(`--${boundary}--\r\n`));

    const bad = await get('/small.txt', { range: 'bytes=10-20' });
    assert.equal(bad.status, 416);
    assert.equal(header(bad, 'content-range'), 'bytes */5');

    assert.equal((await get('/small.txt', { range: 'bytes=0-1' }, 'HEAD')).status, 200);
    assert.equal((await get('/small.txt', { range: 'bytes=0-1', 'if-range': '"stale"' })).status, 200);
    const etag = header(await get('/small.txt'), 'etag') as string;
    assert.equal((await get('/small.txt', { range: 'bytes=0-1', 'if-range': etag })).status, 206);
  });

  test('ranges of a large file are file bodies; multipart streams', async () => {
    const r = await get('/big.txt', { range: 'bytes=10-19' });
    assert.equal(r.status, 206);
    assert.ok(isFileBody(r.body));
    assert.deepEqual(r.body, { kind: 'file', path: join(site.root, 'big.txt'), start: 10, end: 20 });
    const full = await get('/big.txt', { 'accept-encoding': 'identity' });
    assert.deepEqual(full.body, { kind: 'file', path: join(site.root, 'big.txt'), start: 0, end: BIG.length });
    const m = await get('/big.txt', { range: 'bytes=0-1,-2' });
    const body = await bodyOf(m);
    assert.equal(body.length, Number(header(m, 'content-length')));
    assert.ok(body.toString().includes(`content-range: bytes ${BIG.length - 2}-${BIG.length - 1}/${BIG.length}`));
    assert.equal((await get('/big.txt', { range: `bytes=${BIG.length}-` })).status, 416);
  });

  test('large compressible files stream through zlib when accepted', async () => {
    const res = await get('/big.txt', { 'accept-encoding': 'gzip' });
    assert.equal(header(res, 'content-encoding'), 'gzip');
    assert.equal(header(res, 'vary'), 'accept-encoding');
    assert.match(header(res, 'etag') ?? '', /^W\/".*-gzip"$/);
    assert.deepEqual(gunzipSync(await bodyOf(res)), BIG);
    const head = await get('/big.txt', { 'accept-encoding': 'br' }, 'HEAD');
    assert.equal(header(head, 'content-encoding'), 'br');
  });

  test('on-the-fly compression of cached files, per-encoding ETags', async () => {
    const br = await get('/a.css', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(header(br, 'content-encoding'), 'br');
    assert.equal(header(br, 'vary'), 'accept-encoding');
    assert.equal(header(br, 'content-type'), 'text/css; charset=utf-8');
    assert.equal(brotliDecompressSync(await bodyOf(br)).toString(), CSS);
    const gz = await get('/a.css', { 'accept-encoding': 'gzip' });
    assert.equal(header(gz, 'content-encoding'), 'gzip');
    assert.equal(gunzipSync(await bodyOf(gz)).toString(), CSS);
    const id = await get('/a.css');
    assert.equal(header(id, 'content-encoding'), undefined);
    assert.equal(header(id, 'vary'), 'accept-encoding');
    const tags = new Set([header(br, 'etag'), header(gz, 'etag'), header(id, 'etag')]);
    assert.equal(tags.size, 3);
    assert.equal((await get('/a.css', { 'accept-encoding': 'br', 'if-none-match': header(br, 'etag') as string })).status, 304);
    // below compress_min_size: never compressed
    assert.equal(header(await get('/small.txt', { 'accept-encoding': 'br' }), 'content-encoding'), undefined);
    assert.equal(header(await get('/img.png', { 'accept-encoding': 'br' }), 'content-encoding'), undefined);
  });

  test('precompressed siblings win, ranges apply to them', async () => {
    const br = await get('/pre/app.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(header(br, 'content-encoding'), 'br');
    assert.equal(brotliDecompressSync(await bodyOf(br)).toString(), 'console.log("brotli")');
    assert.equal(header(br, 'content-type'), 'text/javascript; charset=utf-8');
    assert.match(header(br, 'etag') ?? '', /-br"$/);
    const gz = await get('/pre/app.js', { 'accept-encoding': 'gzip' });
    assert.equal(gunzipSync(await bodyOf(gz)).toString(), 'console.log("gzip")');
    const pref = await get('/pre/app.js', { 'accept-encoding': 'br;q=0.5, gzip;q=0.8' });
    assert.equal(header(pref, 'content-encoding'), 'gzip');
    const r = await get('/pre/app.js', { 'accept-encoding': 'br', range: 'bytes=0-3' });
    assert.equal(r.status, 206);
    assert.equal(header(r, 'content-encoding'), 'br');
    assert.deepEqual(await bodyOf(r), brotliCompressSync('console.log("brotli")').subarray(0, 4));
  });

  test('HEAD gets the GET headers', async () => {
    const g = await get('/a.css', { 'accept-encoding': 'br' });
    const hd = await get('/a.css', { 'accept-encoding': 'br' }, 'HEAD');
    assert.equal(hd.status, 200);
    assert.deepEqual(hd.headers, g.headers);
  });

  test('other methods get 405 with Allow', async () => {
    const res = await get('/small.txt', {}, 'POST');
    assert.equal(res.status, 405);
    assert.equal(header(res, 'allow'), 'GET, HEAD');
  });

  test('index files and directory redirects keep the query', async () => {
    assert.equal((await bodyOf(await get('/'))).toString(), '<h1>home</h1>');
    assert.equal((await bodyOf(await get('/docs/'))).toString(), '<h1>docs</h1>');
    const redirect = await get('/docs?x=1&y=2');
    assert.equal(redirect.status, 301);
    assert.equal(header(redirect, 'location'), '/docs/?x=1&y=2');
    assert.equal(header(await get('//docs'), 'location'), '/docs/');
    assert.equal((await get('/empty-dir/')).status, 404); // no index, no listing
    assert.equal((await get('/small.txt/')).status, 404);
  });

  test('a prefix route redirects "/prefix" and serves "/prefix/"', async () => {
    const bare = await h.handle(request('/site', {}, 'GET', '/site'));
    assert.equal(bare.status, 301);
    assert.equal(header(bare, 'location'), '/site/');
    const slash = await h.handle(request('/site/', {}, 'GET', '/site'));
    assert.equal((await bodyOf(slash)).toString(), '<h1>home</h1>');
    // once cached under "", the bare form must still redirect
    assert.equal((await h.handle(request('/site', {}, 'GET', '/site'))).status, 301);
    assert.equal((await bodyOf(await h.handle(request('/site/docs/', {}, 'GET', '/site')))).toString(), '<h1>docs</h1>');
  });

  test('a named rest param ("/files/*rest") is used like "*"', async () => {
    const req = request('/files/docs/', {}, 'GET', '/nope');
    req.route = '/files/*rest';
    req.params = { rest: 'docs/' };
    assert.equal((await bodyOf(await h.handle(req))).toString(), '<h1>docs</h1>');
    const exact = request('/small.txt', {}, 'GET', '/nope');
    exact.route = '/small.txt';
    assert.equal((await bodyOf(await h.handle(exact))).toString(), 'hello');
  });

  test('security: traversal, encoded separators, dotfiles, symlinks', async () => {
    const cases: Array<[string, number]> = [
      ['/../secret.txt', 400],
      ['/%2e%2e/secret.txt', 400],
      ['/%2e%2e%2fsecret.txt', 400],
      ['/docs/..%2f..%2fsecret.txt', 400],
      ['/..%5csecret.txt', 400],
      ['/a%00.txt', 400],
      ['/%zz', 400],
      ['/%252e%252e/secret.txt', 404],
      ['/.env', 404],
      ['/%2eenv', 404],
      ['/escape.txt', 404],
    ];
    for (const [target, status] of cases) {
      const res = await get(target);
      assert.equal(res.status, status, target);
      assert.ok(!(await bodyOf(res)).toString().includes(SECRET), target);
    }
    assert.equal((await bodyOf(await get('/inside-link.txt'))).toString(), 'hello');
    assert.equal((await bodyOf(await get('/.well-known/security.txt'))).toString(), 'contact: x');
    assert.equal((await bodyOf(await get('/a%20b.txt'))).toString(), 'spaced');
    assert.equal((await bodyOf(await get('/%252e%252e'))).toString(), 'literal');
  });

  test('follow_symlinks and hide_dotfiles: false', async () => {
    const open = await handlerFor({ root: site.root, follow_symlinks: true, hide_dotfiles: false });
    try {
      assert.equal((await bodyOf(await open.handle(request('/escape.txt')))).toString(), SECRET);
      assert.equal((await bodyOf(await open.handle(request('/.env')))).toString(), SECRET);
      assert.equal((await open.handle(request('/../secret.txt'))).status, 400);
    } finally {
      await open.dispose?.();
    }
  });
});

describe('directory listing', () => {
  test('escaped names, directories first, sizes', async () => {
    const site = makeSite({ 'b.txt': 'bb', 'a <&>.txt': 'a', 'sub/x.txt': 'x', '.hidden': 'h', 'z/.keep': '' });
    const h = await handlerFor({ root: site.root, listing: true });
    try {
      const res = await h.handle(request('/'));
      assert.equal(res.status, 200);
      assert.equal(header(res, 'content-type'), 'text/html; charset=utf-8');
      const html = (await bodyOf(res)).toString();
      assert.ok(html.includes('a &lt;&amp;&gt;.txt'));
      assert.ok(html.includes('href="./a%20%3C%26%3E.txt"'));
      assert.ok(!html.includes('<&>'));
      assert.ok(!html.includes('.hidden'));
      assert.ok(html.indexOf('sub/') < html.indexOf('b.txt'));
      assert.ok(html.indexOf('z/') < html.indexOf('a &lt;'));
      assert.ok(html.includes('2 B'));
      assert.ok((await bodyOf(await h.handle(request('/sub/')))).toString().includes('href="../"'));
    } finally {
      await h.dispose?.();
      site.rm();
    }
  });
});

describe('cache invalidation', () => {
  const waitFor = async (check: () => Promise<boolean>, ms = 3000): Promise<boolean> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (await check()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };

  test('a modified file is served fresh (watcher)', async () => {
    const site = makeSite({ 'f.txt': 'version one' });
    const h = await handlerFor({ root: site.root });
    try {
      const first = await h.handle(request('/f.txt'));
      assert.equal((await bodyOf(first)).toString(), 'version one');
      site.write('f.txt', 'version two!');
      assert.ok(await waitFor(async () => (await bodyOf(await h.handle(request('/f.txt')))).toString() === 'version two!'));
      const next = await h.handle(request('/f.txt'));
      assert.notEqual(header(next, 'etag'), header(first, 'etag'));
    } finally {
      await h.dispose?.();
      site.rm();
    }
  });

  test('same-size change with another mtime is caught by the periodic stat too', async () => {
    const site = makeSite({ 'g.txt': 'aaaa', 'gone.txt': 'bye' });
    const h = await handlerFor({ root: site.root });
    try {
      assert.equal((await bodyOf(await h.handle(request('/g.txt')))).toString(), 'aaaa');
      site.write('g.txt', 'bbbb');
      utimesSync(join(site.root, 'g.txt'), new Date(), new Date(Date.now() + 5000));
      assert.ok(await waitFor(async () => (await bodyOf(await h.handle(request('/g.txt')))).toString() === 'bbbb'));
      await h.handle(request('/gone.txt'));
      const { rmSync } = await import('node:fs');
      rmSync(join(site.root, 'gone.txt'));
      assert.ok(await waitFor(async () => (await h.handle(request('/gone.txt'))).status === 404));
    } finally {
      await h.dispose?.();
      site.rm();
    }
  });

  test('a new precompressed sibling and a new index are picked up', async () => {
    const site = makeSite({ 'app.js': 'x'.repeat(2000), 'd/readme.txt': 'r' });
    const h = await handlerFor({ root: site.root });
    try {
      await h.handle(request('/app.js', { 'accept-encoding': 'br' }));
      mkdirSync(join(site.root, 'd'), { recursive: true });
      site.write('app.js.br', brotliCompressSync('PRE'));
      assert.ok(
        await waitFor(async () => {
          const res = await h.handle(request('/app.js', { 'accept-encoding': 'br' }));
          return brotliDecompressSync(await bodyOf(res)).toString() === 'PRE';
        }),
      );
      assert.equal((await h.handle(request('/d/'))).status, 404);
      site.write('d/index.html', 'now here');
      assert.ok(await waitFor(async () => (await h.handle(request('/d/'))).status === 200));
    } finally {
      await h.dispose?.();
      site.rm();
    }
  });
});

describe('provisioning', () => {
  test('a missing root is a config error', () => {
    assert.throws(
      () => staticModule.create({ root: './definitely-missing' }, { logger: silentLogger, baseDir: '/tmp', dataDir: '/tmp' }),
      (err: unknown) =>
        err instanceof AnomalyError && err.code === ErrorCodes.CONFIG_MODULE && err.message === 'static.root: directory "/tmp/definitely-missing" does not exist',
    );
  });

  test('the schema accepts the documented block and rejects unknown keys', async () => {
    const { default: Ajv } = await import('ajv');
    const ajv = new Ajv.default({ allErrors: true });
    const validate = ajv.compile(staticModule.schema);
    const ok = {
      root: './public',
      index: ['index.html'],
      listing: false,
      precompressed: ['br', 'gzip'],
      compress: true,
      compress_min_size: '1kb',
      cache_control: 'public, max-age=60',
      follow_symlinks: false,
      hide_dotfiles: true,
      memory_cache: { max_file_size: '256kb', max_size: 67108864 },
    };
    assert.ok(validate(ok), JSON.stringify(validate.errors));
    assert.ok(!validate({ root: 'x', nope: 1 }));
    assert.ok(!validate({ root: 'x', compress_min_size: 'big' }));
    assert.ok(!validate({}));
  });
});
