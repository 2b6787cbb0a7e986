// bench/lib/alternate-client.mjs against a local server: targets take turns request by request, a
// slower route reads slower, non-2xx answers are counted. Run: node --test bench/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const client = fileURLToPath(new URL('../lib/alternate-client.mjs', import.meta.url));

test('alternating client: same count per target, the slow route is slower, non-2xx counted', async () => {
  const server = createServer((req, res) => {
    if (req.url === '/slow') {
      const until = performance.now() + 0.5; // 500 µs of work
      while (performance.now() < until);
    }
    res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain', 'content-length': 2 });
    res.end('ok');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const { stdout } = await run(process.execPath, [client, '--duration', '1', '--warmup', '10', `${base}/fast`, `${base}/slow`, `${base}/missing`]);
    const r = JSON.parse(stdout);
    const [fast, slow, missing] = r.targets;
    assert.ok(r.rounds > 50, `only ${r.rounds} rounds`);
    assert.equal(fast.requests, r.rounds);
    assert.equal(slow.requests, r.rounds);
    assert.equal(missing.requests, r.rounds);
    assert.ok(slow.p50Us > fast.p50Us + 300, `slow ${slow.p50Us} µs vs fast ${fast.p50Us} µs`);
    assert.equal(fast.non2xx, 0);
    assert.equal(missing.non2xx, missing.requests);
  } finally {
    server.close();
  }
});

test('alternating client: an answer without content-length is a clear error', async () => {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('chunked');
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await assert.rejects(run(process.execPath, [client, '--duration', '0.2', `http://127.0.0.1:${server.address().port}/`]), /content-length/);
  } finally {
    server.close();
  }
});
