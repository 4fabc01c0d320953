/** The cluster's images across server replicas: the catalog in the store, content fetched between replicas. */
import { SharedImages, type SharedImagesOptions } from './shared-images.ts';

export { SharedImages, type SharedImagesOptions, type SyncPass } from './shared-images.ts';
export { ImageCatalog, type ImageRecord } from './catalog.ts';
export { PEER_HEADER, PeerCredential, type Peer } from './peer-source.ts';

export function sharedImages(o: SharedImagesOptions): SharedImages {
  return new SharedImages(o);
}
