/**
 * How the server reaches an agent (logs): at the address of the host certificate it issued for that
 * host, over TLS, accepting only that host's certificate from the cluster CA, and presenting its own
 * server certificate. Never at an address a request merely claims.
 */
import { isIP } from 'node:net';
import type { PeerCertificate } from 'node:tls';
import { Agent } from 'undici';
import { UnavailableError } from '../errors/index.ts';
import type { HostRecord } from '../model/index.ts';
import type { Store } from '../store/index.ts';
import { HOSTS_ORG, hostCertificateRecord, isLoopbackHost } from '../auth/index.ts';
import type { ServerPki } from './pki.ts';

export interface AgentTarget {
  /** Base URL, e.g. https://10.0.0.7:41234 */
  base: string;
  /** The connection settings to use with fetch (`dispatcher`), if any. */
  dispatcher?: Agent;
}

function hostPart(address: string): string {
  return isIP(address) === 6 ? `[${address}]` : address;
}

/** The certificate's check: the host id as CN, O=dabba:hosts, and the recorded address as IP SAN. */
function checkAgentIdentity(hostId: string, address: string) {
  return (_name: string, cert: PeerCertificate): Error | undefined => {
    const cn = cert.subject.CN;
    const org = cert.subject.O;
    const ips = (cert.subjectaltname ?? '')
      .split(', ')
      .filter((s) => s.startsWith('IP Address:'))
      .map((s) => s.slice(11));
    if (cn !== hostId || org !== HOSTS_ORG || !ips.includes(address))
      return new Error(`the agent presented a certificate of "${String(cn)}", not of host ${hostId}`);
    return undefined;
  };
}

const dispatchers = new Map<string, Agent>();

/**
 * fetch options with an undici dispatcher. The undici package is pinned to the version Node bundles
 * (its fetch takes the dispatcher at run time); its types differ from @types/node's copy, hence the cast.
 */
export function withDispatcher(init: RequestInit, dispatcher: Agent | undefined): RequestInit {
  return dispatcher === undefined ? init : ({ ...init, dispatcher } as unknown as RequestInit);
}

/**
 * Where and how to reach the agent of `host`. With a certificate record: its address, the port of
 * the registered endpoint, TLS pinned to the host's certificate. Without one, only on a plain
 * loopback API (dev, tests) to a loopback endpoint; else refused.
 */
export async function agentTarget(
  store: Store,
  pki: ServerPki | undefined,
  host: HostRecord,
): Promise<AgentTarget> {
  if (!host.agentUrl) throw new UnavailableError(`the agent of host ${host.id} has no endpoint (logs, exec)`);
  const claimed = new URL(host.agentUrl);
  const rec = pki ? await hostCertificateRecord(store, host.id) : undefined;
  if (pki && rec) {
    const port = claimed.port || '443';
    const key = `${host.id}|${rec.address}|${rec.serialNumber}|${pki.ca.pin}`;
    let dispatcher = dispatchers.get(key);
    if (dispatcher === undefined) {
      for (const [k, d] of dispatchers)
        if (k.startsWith(`${host.id}|`)) {
          dispatchers.delete(k);
          void d.close().catch(() => undefined);
        }
      dispatcher = new Agent({
        connect: {
          ca: pki.ca.certPem,
          cert: pki.identity.certPem,
          key: pki.identity.keyPem,
          checkServerIdentity: checkAgentIdentity(host.id, rec.address),
        },
      });
      dispatchers.set(key, dispatcher);
    }
    return { base: `https://${hostPart(rec.address)}:${port}`, dispatcher };
  }
  if (!pki?.tls && claimed.protocol === 'http:' && isLoopbackHost(claimed.hostname))
    return { base: `http://${claimed.host}` };
  throw new UnavailableError(
    `host ${host.id} has no host certificate: the server reaches an agent only at the address of the certificate it issued (join the host with a join token)`,
  );
}
