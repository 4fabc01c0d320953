/**
 * Issuing leaf certificates from the cluster CA: the server's (TLS for the API, and its identity when
 * it calls an agent) and each host's (the agent's client identity and its endpoint's server identity).
 */
import type { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { DabbaError } from '../../errors/index.ts';
import { NAME_PATTERN } from '../../lib/index.ts';
import {
  EC_ALGORITHM,
  generateKeyPair,
  parseCertificate,
  verifiedCsrPublicKey,
  x509,
} from '../../x509/index.ts';
import { CLOCK_SKEW_MS, LEAF_VALIDITY_MS, randomSerial, type ClusterCa } from './ca.ts';

/** Subject organisation of host certificates (as Kubernetes' `system:nodes`). */
export const HOSTS_ORG = 'dabba:hosts';
/** Subject organisation of server (control-plane replica) certificates. */
export const SERVERS_ORG = 'dabba:servers';

export interface IssuedCertificate {
  certPem: string;
  /** The CA certificate it chains to. */
  caPem: string;
  serialNumber: string;
  notAfter: Date;
}

interface LeafParams {
  commonName: string;
  org: string;
  publicKey: x509.PublicKey;
  dnsNames: string[];
  ipAddresses: string[];
  now: Date;
  validityMs: number;
}

async function issueLeaf(ca: ClusterCa, p: LeafParams): Promise<IssuedCertificate> {
  const notAfter = new Date(Math.min(p.now.getTime() + p.validityMs, ca.notAfter.getTime()));
  const names: x509.JsonGeneralName[] = [
    ...p.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...p.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const serialNumber = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: [{ CN: [p.commonName] }, { O: [p.org] }],
    issuer: ca.cert.subject,
    publicKey: p.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: EC_ALGORITHM,
    notBefore: new Date(p.now.getTime() - CLOCK_SKEW_MS),
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, caPem: ca.certPem, serialNumber: parseCertificate(certPem).serialNumber, notAfter };
}

/** DNS names and IP addresses, deduplicated and split; rejects anything else. */
export function splitNames(names: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = new Set<string>();
  const ipAddresses = new Set<string>();
  for (const raw of names) {
    const n = raw.replace(/^\[|\]$/g, '').toLowerCase();
    if (n === '' || n === '0.0.0.0' || n === '::') continue;
    if (isIP(n) !== 0) ipAddresses.add(n);
    else if (/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(n))
      dnsNames.add(n);
  }
  return { dnsNames: [...dnsNames], ipAddresses: [...ipAddresses] };
}

/**
 * A server certificate with a fresh key for the given names (listen and advertise hosts, the
 * machine's names and addresses); loopback names are always included.
 */
export async function issueServerCertificate(
  ca: ClusterCa,
  o: { names: readonly string[]; now?: Date },
): Promise<IssuedCertificate & { keyPem: string }> {
  const { privateKeyPem, publicKeyPem } = await generateKeyPair();
  const { dnsNames, ipAddresses } = splitNames(['localhost', '127.0.0.1', '::1', ...o.names]);
  const issued = await issueLeaf(ca, {
    commonName: 'dabba-server',
    org: SERVERS_ORG,
    publicKey: new x509.PublicKey(publicKeyPem),
    dnsNames,
    ipAddresses,
    now: o.now ?? new Date(),
    validityMs: LEAF_VALIDITY_MS,
  });
  return { ...issued, keyPem: privateKeyPem };
}

export type HostCertificateRequest = {
  hostId: string;
  /** The host's IP address: the one address the server will reach its agent at. */
  address: string;
  now?: Date;
  validityMs?: number;
} & ({ csrPem: string } | { publicKeyPem: string });

export interface IssuedHostCertificate extends IssuedCertificate {
  hostId: string;
  address: string;
}

/**
 * A host certificate: subject CN=HOST_ID, O=dabba:hosts; SANs DNS:HOST_ID and IP:ADDRESS. Takes the
 * host's CSR (preferred: proves the host holds the key, which never leaves it) or its public key.
 */
export async function issueHostCertificate(
  ca: ClusterCa,
  req: HostCertificateRequest,
): Promise<IssuedHostCertificate> {
  if (!NAME_PATTERN.test(req.hostId))
    throw new DabbaError('DABBA_E_BAD_REQUEST', `host id "${req.hostId}" is not a valid host name`);
  const address = req.address.replace(/^\[|\]$/g, '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
  if (isIP(address) === 0)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `host address "${req.address}" is not an IP address`);
  let publicKey: x509.PublicKey;
  if ('csrPem' in req) publicKey = await verifiedCsrPublicKey(req.csrPem);
  else {
    try {
      publicKey = new x509.PublicKey(req.publicKeyPem);
    } catch (cause) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'the host public key is not a PEM public key', { cause });
    }
  }
  const alg = publicKey.algorithm as webcrypto.EcKeyAlgorithm;
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256')
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'host keys must be ECDSA P-256 keys');
  const issued = await issueLeaf(ca, {
    commonName: req.hostId,
    org: HOSTS_ORG,
    publicKey,
    dnsNames: [req.hostId],
    ipAddresses: [address],
    now: req.now ?? new Date(),
    validityMs: req.validityMs ?? LEAF_VALIDITY_MS,
  });
  return { ...issued, hostId: req.hostId, address };
}

/** For tests and tools: a host key and certificate made in one place (the key is not kept). */
export async function issueHostKeyAndCertificate(
  ca: ClusterCa,
  req: { hostId: string; address: string; now?: Date; validityMs?: number },
): Promise<IssuedHostCertificate & { keyPem: string }> {
  const { privateKeyPem, publicKeyPem } = await generateKeyPair();
  return { ...(await issueHostCertificate(ca, { ...req, publicKeyPem })), keyPem: privateKeyPem };
}
