export { CertStore, DEFAULT_ENTRY_NAME, DEFAULT_LOCAL_NAMES, type CertSource, type SiteTlsSpec, type SniCallback } from './cert-store.js';
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  LEAF_RENEW_BEFORE_DAYS,
  LEAF_VALIDITY_DAYS,
  LOCAL_CA_NAME,
  ensureLocalCA,
  type IssuedCertificate,
  type LocalCA,
  type LocalCAOptions,
} from './local-ca.js';
