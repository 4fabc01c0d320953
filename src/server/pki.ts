/**
 * The server's part of the cluster PKI: the CA (loaded or created, shared through the store), this
 * replica's certificate (fresh key each start, for the names it is reached by), and whether the API
 * serves HTTPS (always beyond loopback).
 */
import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from '../lib/index.ts';
import type { Store } from '../store/index.ts';
import { issueServerCertificate, loadOrCreateClusterCa, servesTls, type ClusterCa } from '../auth/index.ts';

export interface ServerPki {
  ca: ClusterCa;
  /** DATA_DIR/ca.crt when the server has a data dir. */
  caFile?: string;
  /** True if this start created the CA. */
  caCreated: boolean;
  /** This replica's certificate: the API's TLS identity, and its client identity toward agents. */
  identity: { certPem: string; keyPem: string };
  /** Whether the API serves HTTPS. */
  tls: boolean;
}

/** The names a client may reach this replica by: listen and advertise hosts, hostname, and addresses. */
function namesFor(listenHost: string, advertiseUrl: string | undefined, extra: readonly string[]): string[] {
  const names = [listenHost, hostname(), ...extra];
  if (advertiseUrl !== undefined) {
    try {
      names.push(new URL(advertiseUrl).hostname);
    } catch {
      // checked by the CLI; a bad one just adds no name
    }
  }
  if (listenHost === '0.0.0.0' || listenHost === '::' || listenHost === '') {
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (!a.internal) names.push(a.address);
  }
  return names;
}

export async function preparePki(
  store: Store,
  o: {
    dataDir?: string;
    host: string;
    advertiseUrl?: string;
    forceTls?: boolean;
    tlsNames?: readonly string[];
    logger: Logger;
  },
): Promise<ServerPki> {
  const loaded = await loadOrCreateClusterCa(store, {
    ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
    logger: o.logger,
  });
  const issued = await issueServerCertificate(loaded.ca, {
    names: namesFor(o.host, o.advertiseUrl, o.tlsNames ?? []),
  });
  return {
    ca: loaded.ca,
    caCreated: loaded.created,
    ...(loaded.certFile === undefined ? {} : { caFile: loaded.certFile }),
    identity: { certPem: issued.certPem, keyPem: issued.keyPem },
    tls: servesTls(o.forceTls === true ? 'on' : 'auto', o.host),
  };
}
