// A `-r` probe that needs --allow-natives-syntax: every 3 s it prints %DebugPrint({}) to stdout (the
// root Object map and its transitions, including node's async_id_symbol entry). In the slow state that
// entry changes target once the load starts (bench/README.md). Send anomaly's stdout to a file:
//   BENCH_ANOMALY_STDOUT=file BENCH_ANOMALY_NODE_FLAGS="--allow-natives-syntax -r ./bench/probes/root-map.js" \
//     node bench/run.mjs --scenarios hello-h1 --keep-tmp
setInterval(() => {
  %DebugPrint({});
}, 3000).unref();
