/** The host certificate's renewal loop (the agent's identity towards the server and its peers). */
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import type { MeshHost } from '../mesh/host/index.ts';
import type { AgentEndpoint } from './endpoint.ts';
import { hostCsr, needsRenewal, saveHostCertificate, type HostCredentials } from './host-credentials.ts';

/** Renews the host certificate (same key) when due, presenting the current one. */
export async function renewals(
  o: {
    client: DabbaClient;
    hostId: string;
    dataDir: string;
    credentials?: HostCredentials;
    renewCheckMs?: number;
  },
  p: {
    clock: Clock;
    endpoint: AgentEndpoint;
    mesh: MeshHost | undefined;
    logger: Logger;
    signal: AbortSignal;
  },
): Promise<void> {
  const { clock, endpoint, mesh, logger, signal } = p;
  let creds = o.credentials;
  if (creds === undefined) return;
  while (!signal.aborted) {
    if (needsRenewal(creds, clock.now())) {
      try {
        const issued = await o.client.renewHostCertificate(o.hostId, await hostCsr(o.dataDir, o.hostId));
        creds = await saveHostCertificate(o.dataDir, issued);
        o.client.setClientCertificate(creds.certPem, creds.keyPem);
        endpoint.setCredentials(creds);
        mesh?.setIdentity(creds);
        logger.info({ notAfter: creds.notAfter.toISOString() }, 'host certificate renewed');
        continue;
      } catch (e) {
        if (signal.aborted) return;
        logger.warn({ err: messageOf(e) }, 'host certificate renewal failed; retrying');
        await sleep(Math.min(o.renewCheckMs ?? 3_600_000, 60_000), signal);
        continue;
      }
    }
    await sleep(o.renewCheckMs ?? 3_600_000, signal);
  }
}
