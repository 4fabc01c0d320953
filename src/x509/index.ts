/**
 * X.509 building blocks shared by the server side (src/auth/pki issues certificates) and the host
 * side (src/agent makes its own key and CSR): keys, CSRs, parsing. No policy here.
 */
export { x509, EC_ALGORITHM } from './setup.ts';
export { generateKeyPair, signingKeys, publicKeyPin, type KeyPairPem } from './keys.ts';
export { createCsr, verifiedCsrPublicKey } from './csr.ts';
export { certificateInfo, parseCertificate, type CertificateInfo } from './cert-info.ts';
