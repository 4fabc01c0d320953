/** Checking certificates against the cluster CA, and reading a host's identity from one. */
import type { X509Certificate } from 'node:crypto';
import { certificateInfo, parseCertificate, type CertificateInfo } from '../../x509/index.ts';
import type { ClusterCa } from './ca.ts';
import { HOSTS_ORG } from './issue.ts';

export type VerifyResult = { ok: true; info: CertificateInfo } | { ok: false; reason: string };

/** Is `cert` issued by the cluster CA (signature checked) and valid at `now`? Never throws. */
export function verifyCertificate(
  ca: Pick<ClusterCa, 'certPem'>,
  cert: string | X509Certificate,
  now = new Date(),
): VerifyResult {
  let c: X509Certificate;
  let issuer: X509Certificate;
  try {
    c = typeof cert === 'string' ? parseCertificate(cert) : cert;
    issuer = parseCertificate(ca.certPem, 'CA certificate');
  } catch (e) {
    return { ok: false, reason: e instanceof Error ? e.message : String(e) };
  }
  if (!c.checkIssued(issuer) || !c.verify(issuer.publicKey))
    return { ok: false, reason: 'not issued by the cluster CA' };
  const info = certificateInfo(c);
  if (now < info.notBefore) return { ok: false, reason: `not valid before ${info.notBefore.toISOString()}` };
  if (now > info.notAfter) return { ok: false, reason: `expired at ${info.notAfter.toISOString()}` };
  return { ok: true, info };
}

export interface HostIdentity {
  hostId: string;
  /** The address the certificate was issued for. */
  address: string;
}

/**
 * The host a certificate names, if it is a host certificate (O=dabba:hosts, one IP SAN). Does NOT
 * check who issued it: use only on a certificate already verified against the cluster CA.
 */
export function hostIdentityOf(info: CertificateInfo): HostIdentity | undefined {
  const hostId = info.subject['CN'];
  const address = info.ipAddresses[0];
  if (info.subject['O'] !== HOSTS_ORG || hostId === undefined || address === undefined) return undefined;
  return { hostId, address };
}
