#!/usr/bin/env node
// Entry point of the `anomaly` command: runs the compiled CLI (npm install builds it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('anomaly: not built yet. Run `npm install` (or `npm run build`) in the anomaly folder first.\n');
  process.exit(1);
}
await import(main);
