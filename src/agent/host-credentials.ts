/**
 * The host's TLS identity, kept in the agent's data dir: its key (made here, never sent anywhere;
 * `host.key`, 0600), the host certificate the server issued for it (`host.crt`) and the cluster CA
 * (`ca.crt`). The key is reused across restarts and renewals; the certificate is renewed by the agent
 * when a third of its lifetime is left.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DabbaError } from '../errors/index.ts';
import { certificateInfo, createCsr, generateKeyPair } from '../x509/index.ts';

export const HOST_KEY_FILE = 'host.key';
export const HOST_CERT_FILE = 'host.crt';
export const CA_FILE = 'ca.crt';

export interface HostCredentials {
  hostId: string;
  /** The address the certificate was issued for: where the server reaches this agent. */
  address: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  notBefore: Date;
  notAfter: Date;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

/** The host's private key, made on first use (P-256, PKCS#8 PEM, file mode 0600). */
export async function hostKey(dataDir: string): Promise<string> {
  const path = join(dataDir, HOST_KEY_FILE);
  const existing = await readIfExists(path);
  if (existing !== undefined) return existing;
  await mkdir(dataDir, { recursive: true });
  const { privateKeyPem } = await generateKeyPair();
  await writeAtomic(path, privateKeyPem, 0o600);
  return privateKeyPem;
}

/** A certificate signing request for this host, signed with its key: what join and renewal send. */
export async function hostCsr(dataDir: string, hostId: string): Promise<string> {
  return createCsr(await hostKey(dataDir), hostId);
}

function credentialsOf(certPem: string, keyPem: string, caPem: string, where: string): HostCredentials {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
    ca = new X509Certificate(caPem);
  } catch (cause) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', `${where}: not a PEM certificate`, { cause });
  }
  if (!cert.checkPrivateKey(createPrivateKey(keyPem)))
    throw new DabbaError('DABBA_E_BAD_REQUEST', `${where}: the certificate is not for this host's key`);
  if (!cert.verify(ca.publicKey))
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `${where}: the certificate is not issued by the CA given with it`,
    );
  const info = certificateInfo(cert);
  const address = info.ipAddresses[0];
  const hostId = info.subject['CN'];
  if (address === undefined || hostId === undefined)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `${where}: not a host certificate (no host id or address)`);
  return { hostId, address, certPem, keyPem, caPem, notBefore: info.notBefore, notAfter: info.notAfter };
}

/** Saves a certificate issued for this host's key (join, renewal), with the CA it chains to. */
export async function saveHostCertificate(
  dataDir: string,
  issued: { certificate: string; ca: string },
): Promise<HostCredentials> {
  const keyPem = await hostKey(dataDir);
  const creds = credentialsOf(issued.certificate, keyPem, issued.ca, 'the issued host certificate');
  await writeAtomic(join(dataDir, CA_FILE), issued.ca, 0o644);
  await writeAtomic(join(dataDir, HOST_CERT_FILE), issued.certificate, 0o644);
  return creds;
}

/** The saved credentials, or undefined if the host has no certificate yet. */
export async function loadHostCredentials(dataDir: string): Promise<HostCredentials | undefined> {
  const certPem = await readIfExists(join(dataDir, HOST_CERT_FILE));
  if (certPem === undefined) return undefined;
  const keyPem = await readIfExists(join(dataDir, HOST_KEY_FILE));
  const caPem = await readIfExists(join(dataDir, CA_FILE));
  if (keyPem === undefined || caPem === undefined)
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `${dataDir} has ${HOST_CERT_FILE} but not ${keyPem === undefined ? HOST_KEY_FILE : CA_FILE}: remove ${HOST_CERT_FILE} and join again`,
    );
  return credentialsOf(certPem, keyPem, caPem, join(dataDir, HOST_CERT_FILE));
}

/** Time to renew: less than a third of the certificate's lifetime left. */
export function needsRenewal(creds: HostCredentials, now = Date.now()): boolean {
  const life = creds.notAfter.getTime() - creds.notBefore.getTime();
  return creds.notAfter.getTime() - now < life / 3;
}
