/**
 * The record of the last certificate issued to each host. Its address is the only one the server
 * connects to for that host (logs), whatever a registration or any other request claims.
 */
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { getJson, putJson } from '../../store/index.ts';
import type { ClusterCa } from './ca.ts';
import { issueHostCertificate, type HostCertificateRequest, type IssuedHostCertificate } from './issue.ts';

export interface HostCertificateRecord {
  hostId: string;
  address: string;
  serialNumber: string;
  /** Epoch ms. */
  notAfter: number;
  issuedAt: number;
}

export async function hostCertificateRecord(
  store: Store,
  hostId: string,
): Promise<HostCertificateRecord | undefined> {
  return (await getJson<HostCertificateRecord>(store, keys.hostCertificate(hostId)))?.value;
}

/** Issues a host certificate and records it (host id -> address) in the store. */
export async function issueAndRecordHostCertificate(
  store: Store,
  ca: ClusterCa,
  req: HostCertificateRequest,
): Promise<IssuedHostCertificate> {
  const issued = await issueHostCertificate(ca, req);
  const record: HostCertificateRecord = {
    hostId: issued.hostId,
    address: issued.address,
    serialNumber: issued.serialNumber,
    notAfter: issued.notAfter.getTime(),
    issuedAt: (req.now ?? new Date()).getTime(),
  };
  await putJson(store, keys.hostCertificate(issued.hostId), record);
  return issued;
}
