/** The Python engine (pyodide in worker threads) against the shared contract suite, plus Python specifics. */
import { pythonRuntime } from '../../../runtimes/python/index.js';
import { loadContractApps, runContractSuite } from './contract-suite.js';

// One worker group for the whole suite: every case app shares the same few interpreters (boot is the slow part).
runContractSuite('pyodide', () => pythonRuntime({ group: () => 'contract' }), loadContractApps('python', '.py'));
