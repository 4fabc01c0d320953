/** Certificate signing requests (PKCS#10): made where the key lives, so the key never travels. */
import { DabbaError } from '../errors/index.ts';
import { signingKeys } from './keys.ts';
import { EC_ALGORITHM, x509 } from './setup.ts';

/** A CSR for `commonName`, signed with the given private key. */
export async function createCsr(privateKeyPem: string, commonName: string): Promise<string> {
  const keys = signingKeys(privateKeyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [commonName] }],
    keys,
    signingAlgorithm: EC_ALGORITHM,
  });
  return csr.toString('pem');
}

/** Parses a CSR and checks its self-signature (proof the requester holds the key); its public key. */
export async function verifiedCsrPublicKey(csrPem: string): Promise<x509.PublicKey> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (cause) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'the certificate request is not a PEM PKCS#10 CSR', {
      cause,
    });
  }
  let ok = false;
  try {
    ok = await csr.verify();
  } catch (cause) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'the certificate request cannot be verified', { cause });
  }
  if (!ok) throw new DabbaError('DABBA_E_BAD_REQUEST', 'the certificate request has a bad signature');
  return csr.publicKey;
}
