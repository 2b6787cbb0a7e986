/**
 * The one entry point to @peculiar/x509 inside anomaly.
 *
 * @peculiar/x509 registers its algorithms through tsyringe, which throws at import time unless a
 * Reflect metadata polyfill is already installed. ES modules evaluate their imports in order, so
 * importing the polyfill first here guarantees it runs before the library, whatever imports this file.
 */
import 'reflect-metadata';

export {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  Extension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
export type { JsonGeneralName } from '@peculiar/x509';
