import { quickjsRuntime } from '../../../runtimes/quickjs/index.js';
import { loadContractApps, runContractSuite } from './contract-suite.js';

runContractSuite('quickjs', () => quickjsRuntime(), loadContractApps('js', '.js'));
