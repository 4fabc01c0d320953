/**
 * The files the proxy's TLS is made from, written from the host's identity (its certificate and key,
 * issued by the cluster CA when the host joined, and the CA itself): `tls/proxy.pem` (certificate
 * then key, 0600: HAProxy's `crt`) and `tls/ca.pem` (`ca-file`), in the proxy's directory.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { InboundTls } from './inbound-plan.ts';

export interface ProxyIdentity {
  certPem: string;
  keyPem: string;
  caPem: string;
}

const withNewline = (s: string): string => (s.endsWith('\n') ? s : `${s}\n`);

async function writeAtomic(path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, content, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

export async function writeInboundTls(dir: string, identity: ProxyIdentity): Promise<InboundTls> {
  const tlsDir = join(dir, 'tls');
  await mkdir(tlsDir, { recursive: true, mode: 0o700 });
  const pem = withNewline(identity.certPem) + withNewline(identity.keyPem);
  const ca = withNewline(identity.caPem);
  const crt = join(tlsDir, 'proxy.pem');
  const caFile = join(tlsDir, 'ca.pem');
  await writeAtomic(crt, pem, 0o600);
  await writeAtomic(caFile, ca, 0o644);
  const digest = createHash('sha256').update(pem).update(ca).digest('hex').slice(0, 16);
  return { crt, caFile, digest };
}
