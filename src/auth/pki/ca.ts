/** The cluster CA: one ECDSA P-256 key and self-signed certificate that every Dabba certificate chains to. */
import { randomBytes, type webcrypto } from 'node:crypto';
import { DabbaError } from '../../errors/index.ts';
import {
  EC_ALGORITHM,
  generateKeyPair,
  parseCertificate,
  publicKeyPin,
  signingKeys,
  x509,
} from '../../x509/index.ts';

export const CA_VALIDITY_MS = 10 * 365 * 24 * 3600_000;
export const LEAF_VALIDITY_MS = 365 * 24 * 3600_000;
/** Certificates start this long before "now", for hosts whose clocks are a little behind. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface ClusterCa {
  certPem: string;
  /** Secret. */
  keyPem: string;
  cert: x509.X509Certificate;
  keys: webcrypto.CryptoKeyPair;
  /** `sha256:HEX` of the CA's public key: what an agent pins the CA by (as kubeadm does). */
  pin: string;
  notAfter: Date;
}

/** A random positive serial number (16 bytes, hex). */
export function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = ((b[0] ?? 0) & 0x7f) | 0x01;
  return b.toString('hex');
}

/** A new CA certificate and key (PEM). */
export async function createClusterCa(now = new Date()): Promise<{ certPem: string; keyPem: string }> {
  const { privateKeyPem } = await generateKeyPair();
  const keys = signingKeys(privateKeyPem);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: ['dabba cluster CA'] }, { O: ['dabba'] }],
    keys,
    signingAlgorithm: EC_ALGORITHM,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_MS),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: privateKeyPem };
}

/** Opens a CA from its PEMs, checking the key is the certificate's and the certificate is a CA. */
export function openClusterCa(certPem: string, keyPem: string, where = 'the cluster CA'): ClusterCa {
  const node = parseCertificate(certPem, `certificate of ${where}`);
  if (!node.ca)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `the certificate of ${where} is not a CA certificate`);
  const keys = signingKeys(keyPem, `key of ${where}`);
  const pin = publicKeyPin(certPem);
  if (publicKeyPin(keyPem) !== pin)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `the key of ${where} does not belong to its certificate`);
  return {
    certPem,
    keyPem,
    cert: new x509.X509Certificate(certPem),
    keys,
    pin,
    notAfter: new Date(node.validTo),
  };
}
