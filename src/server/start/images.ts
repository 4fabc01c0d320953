/** The image store shared by the replicas (each replica can serve every image). */
import type { Clock, Logger } from '../../lib/index.ts';
import type { ImageStore } from '../../image/index.ts';
import type { Store } from '../../store/index.ts';
import { sharedImages, type PeerCredential, type SharedImages } from '../images/index.ts';
import type { ServerPki } from '../pki.ts';
import { serversView } from '../routes/servers.ts';
import type { Replica } from '../shards/index.ts';

/** The shared images over the local store (undefined without one); `replica` once it has joined. */
export function openImages(
  o: { images?: ImageStore; storeName: string },
  p: {
    store: Store;
    clock: Clock;
    replicaId: string;
    logger: Logger;
    peerCredential: PeerCredential;
    pki: ServerPki;
    replica: () => Replica | undefined;
  },
): SharedImages | undefined {
  const { store, clock, replicaId, logger, peerCredential, pki } = p;
  const images =
    o.images === undefined
      ? undefined
      : sharedImages({
          local: o.images,
          store,
          clock,
          replicaId,
          logger: logger.child({ part: 'images' }),
          credential: peerCredential,
          ...(pki.tls ? { caPem: pki.ca.certPem } : {}),
          peers: async () => {
            const replica = p.replica();
            return replica === undefined
              ? []
              : (await serversView(store, o.storeName, replica)).replicas.filter((r) => !r.self);
          },
        });
  return images;
}
