// A `-r` probe for V8 slow states (bench/README.md, "Where anomaly's time goes"): once a second it
// times 1000 process.nextTick callbacks and writes "probe nextTick x1000: N µs" to stderr.
// Healthy anomaly processes read ≈60–110 µs on the bench machine, the slow state ≈290–320 µs.
//   BENCH_ANOMALY_NODE_FLAGS="-r ./bench/probes/nexttick.cjs" node bench/run.mjs --scenarios hello-h1 --keep-tmp
// then read <tmp>/hello-h1/anomaly/stderr.log.
'use strict';
const { writeSync } = require('node:fs');

setInterval(() => {
  const started = process.hrtime.bigint();
  let left = 1000;
  const done = () => {
    if (--left === 0) writeSync(2, `probe nextTick x1000: ${(Number(process.hrtime.bigint() - started) / 1000).toFixed(0)} µs\n`);
  };
  for (let i = 0; i < 1000; i++) process.nextTick(done);
}, 1000).unref();
