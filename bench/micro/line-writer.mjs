// CPU per access line through LineWriter (to /dev/null), with lines built like the access log builds them.
// Run: node bench/micro/line-writer.mjs
import { openSync } from 'node:fs';
import { LineWriter } from '../../dist/src/observe/line-writer.js';

const fd = openSync('/dev/null', 'a');
const mk = (i) => '{"level":30,"time":' + Date.now() + ',"pid":' + 123 + ',"host":"' + 'localhost' + '","method":"GET","path":"' + '/hello' + (i % 10) + '","status":' + 200 + ',"bytes":' + 11 + ',"duration":' + (i % 1000) / 1000 + ',"protocol":"h1","remote":"127.0.0.1","msg":"request"}\n';
const writer = new LineWriter(fd);
const variants = { 'build only': () => {}, 'LineWriter.write': (s) => writer.write(s) };
for (let r = 0; r < 3; r++) {
  for (const [name, fn] of Object.entries(variants)) {
    const N = 400_000;
    const t0 = process.cpuUsage();
    for (let b = 0; b < N / 100; b++) {
      for (let i = 0; i < 100; i++) fn(mk(i));
      await new Promise((res) => setImmediate(res));
    }
    const u = process.cpuUsage(t0);
    console.log(name.padEnd(18), ((u.user + u.system) * 1000 / N).toFixed(0), 'ns CPU per line');
  }
}
