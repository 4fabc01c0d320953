/**
 * Who the daemons are to each other: the admin token a server writes to its data dir, the host
 * credential and certificate an agent joins with (or `dabba dev` hands its own agent), and the CA an
 * agent verifies the server with. Used by daemons.ts only.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { hostCsr, loadHostCredentials, saveHostCertificate, type HostCredentials } from '../agent/index.ts';
import { issueAndRecordHostCertificate } from '../auth/index.ts';
import type { AgentDaemonOptions } from '../cli/index.ts';
import { DabbaClient, fetchPinnedCa } from '../client/index.ts';
import { DabbaError } from '../errors/index.ts';
import type { RunningServer } from '../server/index.ts';
import type { Store } from '../store/index.ts';

/** Writes a secret (a bare token and a newline) readable by its owner only. */
export async function writeSecret(path: string, token: string): Promise<void> {
  await writeFile(path, `${token}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
}

export async function readSecret(path: string): Promise<string | undefined> {
  try {
    const t = (await readFile(path, 'utf8')).trim();
    return t === '' ? undefined : t;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The admin token of a server's data dir: `DATA_DIR/admin.token` is written when this server
 * created the cluster's admin token (a fresh store); a replica joining a store that has one writes
 * nothing (the admin token is in the data dir of the replica that created it).
 */
export async function adminTokenNote(
  dataDir: string,
  created: string | undefined,
): Promise<{ token?: string; note: string }> {
  const file = join(dataDir, 'admin.token');
  if (created !== undefined) {
    await writeSecret(file, created);
    return {
      token: created,
      note: `admin token: ${file} (created; log in with: dabba login --addr URL --token-file ${file})`,
    };
  }
  const existing = await readSecret(file);
  if (existing !== undefined) return { token: existing, note: `admin token: ${file}` };
  return {
    note: 'admin token: the store had one already (see admin.token in the data dir of the replica that created it)',
  };
}

export async function devHostCredentials(
  server: RunningServer,
  store: Store,
  agentDir: string,
  hostId: string,
): Promise<HostCredentials> {
  const issued = await issueAndRecordHostCertificate(store, server.pki.ca, {
    hostId,
    address: '127.0.0.1',
    csrPem: await hostCsr(agentDir, hostId),
  });
  return saveHostCertificate(agentDir, { certificate: issued.certPem, ca: issued.caPem });
}

/** The CA an agent verifies the server with: --ca, else the one saved at join, else fetched by its pin. */
export async function agentCa(
  o: AgentDaemonOptions,
  saved: HostCredentials | undefined,
): Promise<string | undefined> {
  if (o.caPem !== undefined) return o.caPem;
  if (saved !== undefined) return saved.caPem;
  if (o.caPin === undefined) return undefined;
  const first = o.servers.split(',')[0]?.trim() ?? '';
  return fetchPinnedCa(/^https?:\/\//.test(first) ? first : `https://${first}`, o.caPin);
}

export interface AgentIdentity {
  /** The host credential (a bearer token bound to the host): what a plain-HTTP server checks. */
  credential: string | undefined;
  /** The host certificate and key: what a TLS server checks (it goes before the credential). */
  credentials: HostCredentials | undefined;
  ca: string | undefined;
}

/** The address a join asks the host certificate for: the agent's listen IP if it names one. */
export function joinAddress(o: AgentDaemonOptions): string | undefined {
  const host = (o.listen ?? '').split(':')[0] ?? '';
  if (isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::') return host;
  return o.advertise;
}

/**
 * The agent's identity: its host credential (`host.credential`, 0600) and host certificate
 * (`host.crt`, `host.key`) from its data dir. With a join token, a host that lacks either, or whose
 * credential the server no longer knows (revoked), joins: it sends a CSR for its key and stores the
 * credential and the certificate it gets back. Without a join token it needs one of them already.
 */
export async function agentIdentity(o: AgentDaemonOptions, hostId: string): Promise<AgentIdentity> {
  const file = join(o.dataDir, 'host.credential');
  const credentials = await loadHostCredentials(o.dataDir);
  const ca = await agentCa(o, credentials);
  const stored = await readSecret(file);
  const tls = ca === undefined ? {} : { ca };
  if (o.joinToken === undefined) {
    if (stored === undefined && credentials === undefined) {
      throw new DabbaError(
        'DABBA_E_UNAUTHENTICATED',
        `this agent has no host credential (${file}): start it with --join-token T (an admin makes one with: dabba token create NAME --role agent)`,
      );
    }
    return { credential: stored, credentials, ca };
  }
  if (stored !== undefined && credentials?.hostId === hostId) {
    // With a join token at hand, a credential the server no longer knows (revoked) is replaced.
    try {
      const who = await new DabbaClient({ addr: o.servers, token: stored, ...tls }).whoami();
      if (who.kind === 'host' && who.hostId === hostId) return { credential: stored, credentials, ca };
    } catch (e) {
      if (!(e instanceof DabbaError) || e.code !== 'DABBA_E_UNAUTHENTICATED') throw e;
    }
  }
  const address = joinAddress(o);
  const r = await new DabbaClient({ addr: o.servers, token: o.joinToken, ...tls }).join(hostId, {
    csr: await hostCsr(o.dataDir, hostId),
    ...(address === undefined ? {} : { address }),
  });
  await writeSecret(file, r.credential);
  const issued = r.hostCertificate ? await saveHostCertificate(o.dataDir, r.hostCertificate) : credentials;
  return { credential: r.credential, credentials: issued, ca: ca ?? issued?.caPem };
}
