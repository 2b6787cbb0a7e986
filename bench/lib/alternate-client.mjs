// A one-request-at-a-time HTTP/1.1 client that takes turns between several URLs, one keep-alive
// connection each: request to A, wait for the whole answer, then B, then A again...
// Two targets measured this way see the same host state within microseconds of each other, so the
// difference of their latencies is not swamped by a shared VM's drift (±20 µs over seconds), which
// separate wrk runs of a few seconds each could not cancel.
//
//   node bench/lib/alternate-client.mjs --duration 5 http://127.0.0.1:8080/a http://127.0.0.1:8080/b
//
// Prints one JSON line: { targets: [{ url, requests, p50Us, p90Us, p99Us, non2xx }], rounds }.
// Latency is from writing the request to the last byte of the answer, in µs (process.hrtime).
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values: opts, positionals: urls } = parseArgs({
  options: { duration: { type: 'string', default: '5' }, warmup: { type: 'string', default: '200' } },
  allowPositionals: true,
});
if (urls.length === 0) {
  process.stderr.write('usage: node bench/lib/alternate-client.mjs [--duration S] [--warmup ROUNDS] URL...\n');
  process.exit(2);
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection; get() resolves { status } once the whole answer has arrived. */
class Connection {
  #socket;
  #request;
  #buffer = Buffer.alloc(0);
  #pending = null;

  constructor(url) {
    const u = new URL(url);
    if (u.protocol !== 'http:') throw new Error(`${url}: only http:// is supported`);
    this.#request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
    this.#socket = connect({ host: u.hostname, port: Number(u.port || 80), noDelay: true });
    this.#socket.on('data', (chunk) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.#fail(err));
    this.#socket.on('close', () => this.#fail(new Error(`${url}: connection closed by the server`)));
  }

  ready() {
    return new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', reject);
    });
  }

  get() {
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(this.#request);
    });
  }

  #onData(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf(HEADER_END);
    if (end === -1) return;
    const head = this.#buffer.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length === null) return this.#fail(new Error(`answer without content-length (status ${status}): this client reads only those`));
    const total = end + 4 + Number(length[1]);
    if (this.#buffer.length < total) return;
    if (this.#buffer.length > total) return this.#fail(new Error('more bytes than one answer: the server sent something unasked'));
    this.#buffer = Buffer.alloc(0);
    const p = this.#pending;
    this.#pending = null;
    p?.resolve(status);
  }

  #fail(err) {
    const p = this.#pending;
    this.#pending = null;
    if (p !== null) p.reject(err);
  }

  close() {
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }
}

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function main() {
  const conns = urls.map((u) => new Connection(u));
  await Promise.all(conns.map((c) => c.ready()));
  const samples = urls.map(() => []);
  const non2xx = urls.map(() => 0);
  for (let round = 0; round < Number(opts.warmup); round++) for (const c of conns) await c.get();
  const stopAt = performance.now() + Number(opts.duration) * 1000;
  let rounds = 0;
  while (performance.now() < stopAt) {
    // The order flips every round so neither target always runs right after the other.
    const order = rounds % 2 === 0 ? conns.map((_, i) => i) : conns.map((_, i) => conns.length - 1 - i);
    for (const i of order) {
      const t0 = process.hrtime.bigint();
      const status = await conns[i].get();
      samples[i].push(Number(process.hrtime.bigint() - t0) / 1000);
      if (status < 200 || status > 299) non2xx[i]++;
    }
    rounds++;
  }
  for (const c of conns) c.close();
  const targets = urls.map((url, i) => {
    const s = Float64Array.from(samples[i]).sort();
    return { url, requests: s.length, p50Us: percentile(s, 50), p90Us: percentile(s, 90), p99Us: percentile(s, 99), non2xx: non2xx[i] };
  });
  process.stdout.write(JSON.stringify({ rounds, targets }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`alternate-client: ${err.message}\n`);
  process.exit(1);
});
