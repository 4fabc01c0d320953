/** What Dabba reads from a certificate, through node:crypto's parser. */
import { X509Certificate } from 'node:crypto';
import { DabbaError } from '../errors/index.ts';

export interface CertificateInfo {
  /** Subject attributes, e.g. { CN: 'web-1', O: 'dabba:hosts' } (first value of each). */
  subject: Record<string, string>;
  dnsNames: string[];
  ipAddresses: string[];
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint of the DER certificate, hex with colons. */
  fingerprint256: string;
}

export function parseCertificate(pem: string | Buffer, what = 'certificate'): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (cause) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', `the ${what} is not a PEM X.509 certificate`, { cause });
  }
}

function parseNames(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of (text ?? '').split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    out[k] ??= line.slice(i + 1);
  }
  return out;
}

/** Splits node's `subjectAltName` text ("DNS:a, IP Address:1.2.3.4"). Names with commas are not issued. */
function parseSans(text: string | undefined): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const part of (text ?? '').split(', ')) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4));
    else if (part.startsWith('IP Address:')) ipAddresses.push(part.slice(11));
  }
  return { dnsNames, ipAddresses };
}

export function certificateInfo(cert: X509Certificate): CertificateInfo {
  return {
    subject: parseNames(cert.subject),
    ...parseSans(cert.subjectAltName),
    serialNumber: cert.serialNumber,
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}
