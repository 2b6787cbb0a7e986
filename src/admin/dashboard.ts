/**
 * The dashboard page of the admin listener (GET /): one self-contained HTML page (no external
 * scripts, works offline) that scrapes /metrics every second with the bearer token and draws
 * requests/s, errors/s, latency per app language, the protocol mix, the cache hit ratio and
 * upstream health. The token comes from the URL fragment (#token=..., never sent to the server)
 * or a prompt, and is kept in sessionStorage.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>anomaly dashboard</title>
<style>
  :root { --fg: #1d2430; --muted: #6b7383; --bg: #f5f6f8; --card: #fff; --line: #e3e6eb; --accent: #2f6fed; --bad: #d64545; --good: #2e9d5b; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 14px 20px; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  #status { color: var(--muted); }
  #status.live { color: var(--good); }
  #status.error { color: var(--bad); }
  main { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 14px; padding: 14px 20px; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  h2 { font-size: 13px; font-weight: 600; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; margin: 0 0 6px; }
  .big { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; }
  .sub { color: var(--muted); font-size: 12px; }
  canvas { width: 100%; height: 120px; display: block; margin-top: 6px; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  td { padding: 2px 4px; border-bottom: 1px solid var(--line); }
  td.num { text-align: right; }
  .up { color: var(--good); } .down { color: var(--bad); }
  form { display: flex; gap: 8px; }
</style>
</head>
<body>
<header><h1>anomaly</h1><span id="status">connecting…</span><span class="sub" id="totals"></span></header>
<main>
  <section><h2>Requests / s</h2><div class="big" id="rps">–</div><canvas id="rps-chart" width="720" height="240"></canvas></section>
  <section><h2>Errors / s</h2><div class="big" id="errors">–</div><div class="sub">5xx (4xx in grey)</div><canvas id="errors-chart" width="720" height="240"></canvas></section>
  <section><h2>Latency by language (mean, ms)</h2><table id="latency"><tr><td class="sub">no requests yet</td></tr></table><canvas id="latency-chart" width="720" height="240"></canvas></section>
  <section><h2>Protocols</h2><table id="protocols"></table><canvas id="protocols-chart" width="720" height="240"></canvas></section>
  <section><h2>Cache hit ratio</h2><div class="big" id="cache">–</div><div class="sub" id="cache-detail"></div><canvas id="cache-chart" width="720" height="240"></canvas></section>
  <section><h2>Upstreams</h2><table id="upstreams"><tr><td class="sub">no proxied routes</td></tr></table></section>
</main>
<script>
"use strict";
const COLORS = ["#2f6fed", "#e07b22", "#2e9d5b", "#9b51e0", "#d64545", "#0fa3b1"];
const HISTORY = 120;
let token = new URLSearchParams(location.hash.slice(1)).get("token") || sessionStorage.getItem("anomaly-admin-token") || "";
if (token) sessionStorage.setItem("anomaly-admin-token", token);
const series = {};
let previous = null;

function parse(text) {
  const out = [];
  for (const line of text.split("\\n")) {
    if (!line || line[0] === "#") continue;
    const m = /^([a-zA-Z_:][\\w:]*)(?:\\{(.*)\\})? (\\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\\w+)="((?:[^"\\\\]|\\\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
function sum(samples, name, filter) {
  let s = 0;
  for (const x of samples) if (x.name === name && (!filter || filter(x.labels))) s += x.value;
  return s;
}
function groupSum(samples, name, key, filter) {
  const out = {};
  for (const x of samples) if (x.name === name && (!filter || filter(x.labels))) out[x.labels[key]] = (out[x.labels[key]] || 0) + x.value;
  return out;
}
function push(name, key, value) {
  const s = (series[name] ||= {});
  const arr = (s[key] ||= []);
  arr.push(value);
  if (arr.length > HISTORY) arr.shift();
}
function draw(id, name, options = {}) {
  const canvas = document.getElementById(id);
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 24;
  ctx.clearRect(0, 0, w, h);
  const s = series[name] || {};
  const keys = Object.keys(s);
  let max = options.max || 0;
  for (const k of keys) for (const v of s[k]) if (v > max) max = v;
  if (max === 0) max = 1;
  ctx.strokeStyle = "#e3e6eb"; ctx.fillStyle = "#6b7383"; ctx.font = "18px system-ui"; ctx.lineWidth = 1;
  for (let i = 0; i <= 2; i++) {
    const y = pad + ((h - 2 * pad) * i) / 2;
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(fmt(max * (1 - i / 2)), 4, y - 4);
  }
  keys.forEach((k, i) => {
    const arr = s[k];
    ctx.strokeStyle = (options.colors && options.colors[k]) || COLORS[i % COLORS.length]; ctx.lineWidth = 3;
    ctx.beginPath();
    arr.forEach((v, j) => {
      const x = w - (arr.length - 1 - j) * (w / (HISTORY - 1));
      const y = pad + (h - 2 * pad) * (1 - v / max);
      if (j === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = ctx.strokeStyle; ctx.fillText(k || "other", w - 140, 20 + 20 * i);
  });
}
function fmt(v) {
  if (v >= 1000) return (v / 1000).toFixed(1) + "k";
  if (v >= 10) return v.toFixed(0);
  return v.toFixed(v >= 1 ? 1 : 2);
}
function count(v) {
  return v >= 1000 ? fmt(v) : String(Math.round(v));
}
function table(id, rows) {
  const el = document.getElementById(id);
  el.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) {
      const td = document.createElement("td");
      if (typeof c === "object") { td.textContent = c.text; if (c.cls) td.className = c.cls; } else td.textContent = c;
      tr.append(td);
    }
    return tr;
  }));
}

function update(samples, now) {
  const status = (l) => Number(l.status);
  const cur = {
    t: now,
    total: sum(samples, "anomaly_requests_total"),
    e5: sum(samples, "anomaly_requests_total", (l) => status(l) >= 500),
    e4: sum(samples, "anomaly_requests_total", (l) => status(l) >= 400 && status(l) < 500),
    proto: groupSum(samples, "anomaly_requests_total", "protocol"),
    latSum: groupSum(samples, "anomaly_request_duration_seconds_sum", "language"),
    latCount: groupSum(samples, "anomaly_request_duration_seconds_count", "language"),
    cache: groupSum(samples, "anomaly_cache_responses_total", "result"),
  };
  document.getElementById("totals").textContent = count(cur.total) + " requests since start";
  if (previous) {
    const dt = (cur.t - previous.t) / 1000 || 1;
    const rps = (cur.total - previous.total) / dt;
    document.getElementById("rps").textContent = fmt(Math.max(0, rps));
    push("rps", "requests/s", Math.max(0, rps));
    const e5 = Math.max(0, (cur.e5 - previous.e5) / dt), e4 = Math.max(0, (cur.e4 - previous.e4) / dt);
    document.getElementById("errors").textContent = fmt(e5);
    push("errors", "5xx", e5); push("errors", "4xx", e4);

    const langs = Object.keys(cur.latCount).sort();
    const rows = [];
    for (const lang of langs) {
      const dc = cur.latCount[lang] - (previous.latCount[lang] || 0);
      const ds = cur.latSum[lang] - (previous.latSum[lang] || 0);
      const meanMs = dc > 0 ? (ds / dc) * 1000 : 0;
      const overallMs = (cur.latSum[lang] / cur.latCount[lang]) * 1000;
      push("latency", lang || "static/other", meanMs);
      rows.push([lang || "static/other", { text: meanMs.toFixed(2) + " ms now", cls: "num" }, { text: overallMs.toFixed(2) + " ms overall", cls: "num" }]);
    }
    if (rows.length) table("latency", rows);

    const protos = Object.keys(cur.proto).sort();
    const pRows = [];
    let pTotal = 0;
    for (const p of protos) pTotal += cur.proto[p];
    for (const p of protos) {
      const share = pTotal > 0 ? (100 * cur.proto[p]) / pTotal : 0;
      const rate = Math.max(0, (cur.proto[p] - (previous.proto[p] || 0)) / dt);
      push("protocols", p, rate);
      pRows.push([p, { text: share.toFixed(1) + " %", cls: "num" }, { text: fmt(rate) + "/s", cls: "num" }]);
    }
    table("protocols", pRows);

    const hits = (cur.cache.hit || 0) + (cur.cache.stale || 0);
    const lookups = hits + (cur.cache.miss || 0);
    const dh = hits - ((previous.cache.hit || 0) + (previous.cache.stale || 0));
    const dl = lookups - ((previous.cache.hit || 0) + (previous.cache.stale || 0) + (previous.cache.miss || 0));
    document.getElementById("cache").textContent = lookups > 0 ? ((100 * hits) / lookups).toFixed(1) + " %" : "–";
    document.getElementById("cache-detail").textContent = lookups > 0 ? count(cur.cache.hit || 0) + " hits, " + count(cur.cache.stale || 0) + " stale, " + count(cur.cache.miss || 0) + " misses" : "no cached routes used yet";
    push("cache", "hit ratio %", dl > 0 ? (100 * dh) / dl : 0);
  }
  const ups = samples.filter((x) => x.name === "anomaly_upstream_up");
  if (ups.length) {
    table("upstreams", ups.map((x) => [x.labels.upstream, x.labels.target, { text: x.value > 0 ? "up" : "down", cls: x.value > 0 ? "up" : "down" }]));
  }
  draw("rps-chart", "rps");
  draw("errors-chart", "errors", { colors: { "5xx": "#d64545", "4xx": "#9aa1ad" } });
  draw("latency-chart", "latency");
  draw("protocols-chart", "protocols");
  draw("cache-chart", "cache", { max: 100 });
  previous = cur;
}

async function tick() {
  const el = document.getElementById("status");
  try {
    const res = await fetch("/metrics", { headers: token ? { authorization: "Bearer " + token } : {}, cache: "no-store" });
    if (res.status === 401) {
      el.textContent = "token needed"; el.className = "error";
      const given = prompt("Admin API token");
      if (given) { token = given; sessionStorage.setItem("anomaly-admin-token", token); }
      return;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    update(parse(await res.text()), performance.now());
    el.textContent = "live · " + new Date().toLocaleTimeString(); el.className = "live";
  } catch (err) {
    el.textContent = "not reachable: " + err.message; el.className = "error";
  }
}
tick();
setInterval(tick, 1000);
</script>
</body>
</html>
`;

export function dashboardHtml(): string {
  return PAGE;
}
