/**
 * The TLS policy every listener and certificate context uses: TLS 1.2 at least; TLS 1.3 suites,
 * then for TLS 1.2 only ECDHE with AEAD ciphers (Mozilla's "intermediate"): forward secrecy
 * everywhere, no CBC (Lucky13), nothing on HTTP/2's forbidden list (RFC 9113 appendix A).
 */
export const MIN_TLS_VERSION = 'TLSv1.2';

export const MODERN_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');
