// Free ports and readiness probes (TCP accept + one successful HTTP request).
import net from 'node:net';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';

/** `count` distinct free TCP ports on 127.0.0.1 (held open together so they differ). */
export async function freePorts(count) {
  const servers = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = net.createServer();
      await new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', resolve);
      });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** One GET; resolves { status, bytes } or rejects. transport: h1 | h1s | h2s | h2c. */
export function fetchOnce(transport, port, path, timeoutMs = 2000) {
  if (transport === 'h1' || transport === 'h1s') {
    const mod = transport === 'h1' ? http : https;
    return new Promise((resolve, reject) => {
      const req = mod.get(
        { host: '127.0.0.1', port, path, rejectUnauthorized: false, agent: false, timeout: timeoutMs },
        (res) => {
          let bytes = 0;
          res.on('data', (c) => (bytes += c.length));
          res.on('end', () => resolve({ status: res.statusCode, bytes }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
    });
  }
  return new Promise((resolve, reject) => {
    const scheme = transport === 'h2s' ? 'https' : 'http';
    const session = http2.connect(`${scheme}://127.0.0.1:${port}`, { rejectUnauthorized: false });
    const timer = setTimeout(() => session.destroy(new Error('timeout')), timeoutMs);
    const done = (fn, v) => {
      clearTimeout(timer);
      session.close();
      fn(v);
    };
    session.on('error', (e) => done(reject, e));
    const stream = session.request({ ':path': path });
    let status = 0;
    let bytes = 0;
    stream.on('response', (h) => (status = h[':status']));
    stream.on('data', (c) => (bytes += c.length));
    stream.on('end', () => done(resolve, { status, bytes }));
    stream.on('error', (e) => done(reject, e));
  });
}

/**
 * Poll until the server answers `path` with 200 and `expectBytes` bytes of body.
 * `exited` is a promise that resolves if the server process dies meanwhile.
 */
export async function waitReady({ transport, port, path, expectBytes, timeoutMs, exited }) {
  const deadline = Date.now() + timeoutMs;
  let died = null;
  exited.then((e) => (died = e));
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (died !== null) throw new Error(`exited during start (${died.error?.message ?? `code ${died.code}, signal ${died.signal}`})`);
    try {
      const r = await fetchOnce(transport, port, path);
      if (r.status === 200 && (expectBytes === undefined || r.bytes === expectBytes)) return;
      last = `answered ${r.status} with ${r.bytes} bytes (want 200 with ${expectBytes})`;
      if (r.status !== 200 && r.status !== 503) break;
    } catch (e) {
      last = e.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready on port ${port} ${transport} ${path}: ${last}`);
}
