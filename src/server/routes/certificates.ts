import { z } from 'zod';
import { DabbaError } from '../../errors/index.ts';
import type { ClusterCaView, HostCertificateView } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import {
  hostCertificateRecord,
  hostIdentityFromRequest,
  issueAndRecordHostCertificate,
  type IssuedHostCertificate,
} from '../../auth/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';
import type { EventLog } from '../state/events.ts';
import { parseBody } from '../state/parse.ts';

const renewSchema = z.strictObject({
  csr: z
    .string()
    .min(1)
    .max(16 * 1024),
});

export function hostCertificateView(issued: IssuedHostCertificate): HostCertificateView {
  return {
    hostId: issued.hostId,
    address: issued.address,
    certificate: issued.certPem,
    ca: issued.caPem,
    notAfter: issued.notAfter.toISOString(),
  };
}

/**
 * `GET /v1/ca`: the cluster CA certificate, public (an agent fetches it before it trusts the server,
 * and checks it against the pin it was given with its join token).
 * `POST /v1/hosts/ID/certificate {csr}`: renewal. Only the host itself, by its current certificate
 * (mTLS), may renew; the new certificate keeps the address recorded for the host.
 */
export function certificateRoutes(router: Router, store: Store, pki: ServerPki, events: EventLog): void {
  router.on('GET', '/v1/ca', (): Promise<ClusterCaView> =>
    Promise.resolve({ cert: pki.ca.certPem, pin: pki.ca.pin }),
  );

  router.on('POST', '/v1/hosts/:id/certificate', async ({ req, params }) => {
    const id = params['id'] ?? '';
    const who = hostIdentityFromRequest(req);
    // Authorized for the host itself only (route table); here: proved by its certificate, not by
    // a host credential.
    if (who === undefined)
      throw new DabbaError(
        'DABBA_E_FORBIDDEN',
        'renewing a host certificate takes the current host certificate as TLS client certificate',
        { details: { need: 'the host certificate' } },
      );
    if (who.hostId !== id)
      throw new DabbaError('DABBA_E_FORBIDDEN', `host ${who.hostId} may renew only its own certificate`, {
        details: { host: who.hostId },
      });
    const body = parseBody(renewSchema, await readJsonBody(req), 'certificate renewal');
    const recorded = await hostCertificateRecord(store, id);
    const issued = await issueAndRecordHostCertificate(store, pki.ca, {
      hostId: id,
      address: recorded?.address ?? who.address,
      csrPem: body.csr,
    });
    await events.append([
      { kind: 'HostCertificateIssued', host: id, message: `host ${id} renewed its certificate` },
    ]);
    return hostCertificateView(issued);
  });
}
