// Behaviour of the harness's pure parts: load-tool output parsing, medians/ratios/goals,
// README section replacement. Run: node --test bench/test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk, parseH2load, loadCommand } from '../lib/load.mjs';
import { median, summarize, replaceLastRun, README_START, README_END } from '../lib/report.mjs';

const WRK_OUT = `Running 3s test @ http://127.0.0.1:4000/hello
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  310.00us  12.50ms   91.00%
    Req/Sec    48.10k     2.00k   52.00k    80.00%
  Latency Distribution
     50%  850.00us
     75%    1.10ms
     90%    1.40ms
     99%    2.50ms
  143500 requests in 3.00s, 16.00MB read
  Non-2xx or 3xx responses: 7
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  47833.33
Transfer/sec:      5.33MB
`;

const H2LOAD_OUT = `starting benchmark...
TLS Protocol: TLSv1.3
Cipher: TLS_AES_128_GCM_SHA256
Application protocol: h2
finished in 3.00s, 35500.00 req/s, 1.20MB/s
requests: 106500 total, 106600 started, 106500 done, 106490 succeeded, 10 failed, 0 errored, 0 timeout
status codes: 106490 2xx, 0 3xx, 10 4xx, 0 5xx
time for request:       36us     45.43ms      2.72ms      3.01ms    89.06%
`;

test('parseWrk reads requests, req/s, percentiles and errors', () => {
  const r = parseWrk(WRK_OUT);
  assert.equal(r.requests, 143500);
  assert.equal(r.rps, 47833.33);
  assert.equal(r.p50Ms, 0.85);
  assert.equal(r.p99Ms, 2.5);
  assert.equal(r.non2xx, 7);
  assert.equal(r.socketErrors, 3);
});

test('parseWrk rejects output it does not understand', () => {
  assert.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused'), /cannot parse wrk/);
});

test('parseH2load reads done requests, req/s, status codes and TLS details', () => {
  const r = parseH2load(H2LOAD_OUT);
  assert.equal(r.requests, 106500);
  assert.equal(r.rps, 35500);
  assert.equal(r.non2xx, 10);
  assert.equal(r.socketErrors, 10);
  assert.equal(r.meanMs, 2.72);
  assert.equal(r.cipher, 'TLS_AES_128_GCM_SHA256');
  assert.equal(r.protocol, 'h2');
});

test('loadCommand pins one TLS 1.3 suite for h2load over https only', () => {
  const load = { tool: 'h2load', threads: 1, connections: 10, streams: 10 };
  assert.ok(loadCommand(load, 'https://127.0.0.1:1/hello', 3)[1].includes('--tls13-ciphers=TLS_AES_128_GCM_SHA256'));
  assert.ok(!loadCommand(load, 'http://127.0.0.1:1/hello', 3)[1].some((a) => a.startsWith('--tls13')));
  assert.deepEqual(loadCommand({ tool: 'wrk', threads: 1, connections: 50 }, 'http://x/', 10), [
    'wrk', ['-t1', '-c50', '-d10s', '--latency', '--timeout', '5s', 'http://x/'],
  ]);
});

test('median ignores missing values and averages the middle pair', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([null, 5, undefined]), 5);
  assert.equal(median([]), null);
});

test('summarize computes ratios against the reference and checks the goal', () => {
  const run = (rps, cpu) => ({ rps, cpuUsPerReq: cpu, non2xx: 0, socketErrors: 0, p99Ms: 1, cores: [90, 50] });
  const result = summarize({
    reference: 'node',
    goal: { server: 'anomaly', metric: 'cpu', op: '<=', value: 1.1, text: 'x' },
    servers: [
      { key: 'node', runs: [run(100, 10), run(120, 12), run(110, 11)] },
      { key: 'anomaly', runs: [run(100, 12), { error: 'boom' }, run(90, 13)] },
      { key: 'fastify', error: 'did not start', runs: [] },
    ],
  });
  const [node, anomaly, fastify] = result.servers;
  assert.equal(node.median.rps, 110);
  assert.equal(anomaly.median.cpuUsPerReq, 12.5);
  assert.equal(anomaly.ratio.cpu, 12.5 / 11);
  assert.equal(anomaly.ratio.rps, 95 / 110);
  assert.equal(fastify.median, null);
  assert.equal(fastify.ratio, null);
  assert.equal(result.goalResult.met, false); // 1.14x > 1.1x
  assert.equal(summarize({ ...result, goal: { ...result.goal, value: 1.15 } }).goalResult.met, true);
});

test('replaceLastRun replaces only the marked section, or appends one', () => {
  const readme = `# B\n\n## Last run\n\n${README_START}\nold\n${README_END}\n\nafter\n`;
  const out = replaceLastRun(readme, 'new table\n');
  assert.equal(out, `# B\n\n## Last run\n\n${README_START}\nnew table\n${README_END}\n\nafter\n`);
  assert.match(replaceLastRun('# B\n', 'x'), /## Last run\n\n<!-- last-run:start -->\nx\n<!-- last-run:end -->\n$/);
});
