import fs from 'node:fs';
const fd = fs.openSync('/dev/null', 'a');
const obj = () => ({ host: 'localhost', method: 'GET', path: '/hello', status: 200, bytes: 11, duration: 0.123, protocol: 'h1', remote: '127.0.0.1', error: undefined });
const esc = /["\\\u0000-\u001f\u007f-\uffff]/;
const s = (v) => esc.test(v) ? JSON.stringify(v) : '"' + v + '"';
let buf = ''; let scheduled = false; let writing = false;
const flush = () => { scheduled = false; if (writing || buf === '') return; const data = buf; buf = ''; writing = true; fs.write(fd, data, () => { writing = false; if (buf.length) flush(); }); };
const write = (line) => { buf += line; if (!scheduled) { scheduled = true; setImmediate(flush); } };
const lines = [];
const flush2 = () => { scheduled = false; if (writing || lines.length === 0) return; const data = lines.join(''); lines.length = 0; writing = true; fs.write(fd, data, () => { writing = false; if (lines.length) flush2(); }); };
const write2 = (line) => { lines.push(line); if (!scheduled) { scheduled = true; setImmediate(flush2); } };
const line = (o) => '{"level":30,"time":' + Date.now() + ',"pid":' + process.pid + ',"host":' + s(o.host) + ',"method":' + s(o.method) + ',"path":' + s(o.path) + ',"status":' + o.status + ',"bytes":' + o.bytes + ',"duration":' + o.duration + ',"protocol":"' + o.protocol + '","remote":' + s(o.remote) + ',"msg":"request"}\n';
const variants = { serialize: () => line(obj()), concat: () => write(line(obj())), array: () => write2(line(obj())), syncEach: () => fs.writeSync(fd, line(obj())) };
async function run(fn) {
  const t0 = process.cpuUsage();
  for (let b = 0; b < 4000; b++) { for (let i = 0; i < 50; i++) fn(); await new Promise(r => setImmediate(r)); }
  const u = process.cpuUsage(t0); return ((u.user + u.system) * 1000 / 200000).toFixed(0);
}
for (let r = 0; r < 3; r++) for (const [k, fn] of Object.entries(variants)) console.log(k, await run(fn), 'ns cpu/line');
