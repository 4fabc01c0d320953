/**
 * The cluster's PKI: its CA (in the store, shared by every replica, and in the server's data dir),
 * the server's and hosts' certificates, and who a request comes from by its client certificate.
 */
export { CA_VALIDITY_MS, LEAF_VALIDITY_MS, createClusterCa, openClusterCa, type ClusterCa } from './ca.ts';
export { loadOrCreateClusterCa, writeFileAtomic, type LoadedCa } from './ca-store.ts';
export {
  HOSTS_ORG,
  SERVERS_ORG,
  issueHostCertificate,
  issueHostKeyAndCertificate,
  issueServerCertificate,
  type HostCertificateRequest,
  type IssuedCertificate,
  type IssuedHostCertificate,
} from './issue.ts';
export {
  hostCertificateRecord,
  issueAndRecordHostCertificate,
  type HostCertificateRecord,
} from './host-certs.ts';
export { hostIdentityFromRequest, peerHasOrg } from './request-identity.ts';
export { hostIdentityOf, verifyCertificate, type HostIdentity, type VerifyResult } from './verify.ts';
export { isLoopbackHost, servesTls, type TlsMode } from './tls-mode.ts';
