// Medians, ratios and the Markdown that run.mjs prints and writes.

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Fills `median` and `ratio` of every server result of a scenario result. */
export function summarize(result) {
  for (const s of result.servers) {
    const ok = s.runs.filter((r) => r.error === undefined);
    s.median = ok.length === 0 ? null : {
      rps: median(ok.map((r) => r.rps)),
      cpuUsPerReq: median(ok.map((r) => r.cpuUsPerReq)),
      p99Ms: median(ok.map((r) => r.p99Ms)),
      meanMs: median(ok.map((r) => r.meanMs)),
      serverCpuPct: median(ok.map((r) => r.serverCpuPct)),
      clientCpuPct: median(ok.map((r) => r.clientCpuPct)),
      serverCorePct: median(ok.map((r) => r.cores?.[0])),
      clientCorePct: median(ok.map((r) => r.cores?.[1])),
      non2xx: ok.reduce((a, r) => a + r.non2xx, 0),
      socketErrors: ok.reduce((a, r) => a + r.socketErrors, 0),
    };
  }
  const ref = result.servers.find((s) => s.key === result.reference)?.median ?? null;
  for (const s of result.servers) {
    s.ratio = s.median === null || ref === null ? null : {
      rps: s.median.rps / ref.rps,
      cpu: s.median.cpuUsPerReq / ref.cpuUsPerReq,
    };
  }
  const find = (key) => result.servers.find((s) => s.key === key)?.median ?? null;
  result.goalResults = (result.goals ?? (result.goal ? [result.goal] : [])).map((goal) => {
    const target = find(goal.server);
    let actual = result.servers.find((s) => s.key === goal.server)?.ratio?.[goal.metric] ?? null;
    if (goal.against !== undefined) {
      const other = find(goal.against);
      const field = goal.metric === 'cpu' ? 'cpuUsPerReq' : 'rps';
      actual = target === null || other === null ? null : target[field] / other[field];
    }
    return { ...goal, actual, met: actual === null ? null : goal.op === '<=' ? actual <= goal.value : actual >= goal.value };
  });
  result.goalResult = result.goalResults[0];
  return result;
}

/** One table cell out of a multi-line error message. */
const oneLine = (text, max = 220) => {
  const t = text.split('\n').map((l) => l.trim()).filter(Boolean).join(' ⏎ ').replaceAll('|', '\\|');
  return t.length > max ? `${t.slice(0, max)}…` : t;
};
const fmtInt = (n) => (n === null || n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
const fmt = (n, d = 2) => (n === null || n === undefined ? '–' : n.toFixed(d));
const fmtX = (n) => (n === null || n === undefined ? '–' : `${n.toFixed(2)}x`);

export function scenarioMarkdown(result) {
  const lines = [];
  lines.push(`### ${result.name}: ${result.title}`);
  lines.push('');
  lines.push(`${result.loadText}; reference: **${result.referenceLabel}**; ${result.runsDone} run(s) of ${result.duration} s, medians.`);
  lines.push('');
  lines.push('| server | req/s | req/s vs ref | CPU µs/req | CPU vs ref | latency ms | server CPU % | client CPU % | cores busy % 0/1 | notes |');
  lines.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|---|');
  for (const s of result.servers) {
    if (s.median === null) {
      lines.push(`| ${s.label} | – | – | – | – | – | – | – | – | ${oneLine(s.error ?? s.runs.find((r) => r.error)?.error ?? 'no result')} |`);
      continue;
    }
    const m = s.median;
    const notes = [];
    if (s.key === result.reference) notes.push('reference');
    if (m.non2xx > 0) notes.push(`${m.non2xx} non-2xx`);
    if (m.socketErrors > 0) notes.push(`${m.socketErrors} socket errors`);
    if (m.clientCpuPct !== null && m.clientCpuPct >= 90) notes.push(`load generator at ${fmt(m.clientCpuPct, 0)}% CPU: req/s client-bound`);
    if (m.serverCorePct !== null && m.serverCpuPct !== null && m.serverCorePct - m.serverCpuPct > 25) {
      notes.push(`core 0 ${fmt(m.serverCorePct - m.serverCpuPct, 0)}% busy outside the server (neighbours, interrupts)`);
    }
    if (s.error) notes.push(oneLine(s.error));
    const latency = m.p99Ms !== null ? `p99 ${fmt(m.p99Ms)}` : m.meanMs !== null ? `mean ${fmt(m.meanMs)}` : '–';
    lines.push(`| ${s.label} | ${fmtInt(m.rps)} | ${fmtX(s.ratio?.rps)} | ${fmt(m.cpuUsPerReq)} | ${fmtX(s.ratio?.cpu)} | ${latency} | ${fmt(m.serverCpuPct, 0)} | ${fmt(m.clientCpuPct, 0)} | ${fmt(m.serverCorePct, 0)}/${fmt(m.clientCorePct, 0)} | ${notes.join('; ')} |`);
  }
  const goals = result.goalResults ?? (result.goalResult ? [result.goalResult] : []);
  if (goals.length > 0) lines.push('');
  for (const g of goals) {
    const verdict = g.met === null ? 'not measured' : g.met ? 'met' : 'NOT met';
    lines.push(`Goal (${g.server}): ${g.text} — actual ${fmtX(g.actual)}: **${verdict}**.`);
  }
  lines.push('');
  return lines.join('\n');
}

export function reportMarkdown(report) {
  const h = report.host;
  const lines = [
    `Run of ${report.startedAt} (${report.options.runs} run(s) x ${report.options.duration} s, warm-up ${report.options.warmup} s${report.options.quick ? ', --quick' : ''}).`,
    `Host: ${h.cpus}x ${h.cpuModel}, ${h.kernel}; Node ${h.node}; ${h.nginx}; ${h.wrk}; ${h.h2load}; load average at start ${h.loadavg}.`,
    'Server pinned to CPU 0, load generator to CPU 1; in the "N workers" scenarios every server runs N processes on CPUs 0..N-1, so on a 2-core machine they share CPU 1 with the load generator (the same for every server of the scenario). req/s higher is better; CPU µs/request lower is better.',
    '',
  ];
  for (const r of report.scenarios) lines.push(scenarioMarkdown(r));
  return lines.join('\n');
}

export const README_START = '<!-- last-run:start -->';
export const README_END = '<!-- last-run:end -->';

/** Replace the marked "last run" section of the README text (append it when missing). */
export function replaceLastRun(readme, markdown) {
  const block = `${README_START}\n${markdown.trim()}\n${README_END}`;
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a === -1 || b === -1 || b < a) return `${readme.trimEnd()}\n\n## Last run\n\n${block}\n`;
  return readme.slice(0, a) + block + readme.slice(b + README_END.length);
}
