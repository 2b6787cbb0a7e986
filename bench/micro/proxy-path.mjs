// CPU per request of the proxy's own work, without sockets: forwarding headers, path rewrite,
// the balancing pick and the answer's header rules (what src/handlers/proxy adds around undici).
// Run: node bench/micro/proxy-path.mjs
import { RequestBody } from '../../dist/src/core/body.js';
import { HeaderMap } from '../../dist/src/core/headers.js';
import { Request } from '../../dist/src/core/request.js';
import { createPolicy } from '../../dist/src/balance/policy.js';
import { balanceRequest, upstreamPath } from '../../dist/src/handlers/proxy/forward.js';
import { applyResponseRules, TrustedProxies, upstreamRequestHeaders } from '../../dist/src/handlers/proxy/headers.js';

const conn = { id: 1, remoteAddress: '203.0.113.7', remotePort: 1, localAddress: '127.0.0.1', localPort: 2, tls: null };
// A browser-like request head (12 fields).
const raw = ['Host', 'example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0', 'Accept', 'text/html,application/xhtml+xml',
  'Accept-Language', 'en-US,en;q=0.5', 'Accept-Encoding', 'gzip, deflate, br', 'Connection', 'keep-alive', 'Cookie', 'sid=abc123; theme=dark',
  'Upgrade-Insecure-Requests', '1', 'Sec-Fetch-Dest', 'document', 'Sec-Fetch-Mode', 'navigate', 'Priority', 'u=0, i', 'Cache-Control', 'max-age=0'];
const forwarding = { trusted: new TrustedProxies([]), xForwarded: true, forwarded: false, via: '1.1 anomaly', host: null, hostFromTarget: false, set: [], add: [], remove: new Set() };
const rules = { via: '1.1 anomaly', set: [], remove: new Set() };
const targets = [1, 2, 3].map((i) => ({ id: `http://10.0.0.${i}:8080`, weight: 1, active: 0 }));
const usable = () => true;

for (const policyName of ['round_robin', 'least_conn', 'hash']) {
  const policy = createPolicy(policyName, targets, { hashKey: { kind: 'cookie', name: 'sid' } });
  let sink = 0;
  const N = 300_000;
  for (let round = 0; round < 3; round++) {
    const t0 = process.cpuUsage();
    for (let i = 0; i < N; i++) {
      const req = new Request({ method: 'GET', scheme: 'https', authority: 'example.com', target: '/api/items?page=2', protocol: 'h1', headers: new HeaderMap(raw), body: new RequestBody(null, 0, 0), conn });
      const headers = upstreamRequestHeaders(req, forwarding, false);
      const path = upstreamPath(req.target, '/api');
      const target = policy.pick(targets, usable, balanceRequest(req));
      const out = applyResponseRules({ 'content-type': 'text/html', 'content-length': '1234', date: 'x', etag: '"1"' }, rules);
      sink += headers.length + path.length + (target === null ? 0 : 1) + Object.keys(out).length;
    }
    const used = process.cpuUsage(t0);
    if (round === 2) console.log(`${policyName.padEnd(12)} ${(((used.user + used.system) / N)).toFixed(2)} µs/request (request object, headers, path, pick, answer rules)  [${sink}]`);
  }
}
