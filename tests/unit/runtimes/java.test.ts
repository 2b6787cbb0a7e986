/** The Java engine against the shared contract suite, plus Java-specific checks. Skipped (loudly) without a JDK. */
import { loadContractApps, runContractSuite } from './contract-suite.js';
import { javaRuntime } from '../../../runtimes/java/index.js';
import { findJdk } from '../../../runtimes/java/jdk.js';

let jdk: string | null = null;
try {
  jdk = findJdk().home;
} catch (err) {
  if (process.env.CI === 'true') throw err;
  process.stderr.write(`*** Java engine tests skipped: ${(err as Error).message} ***\n`);
}

if (jdk !== null) {
  runContractSuite('java', () => javaRuntime(), loadContractApps('java', '.java'));
}
