/** The mesh's server side: discovery and the dependency file's versions, read from the store. */
export { endpointOf, jobEndpoints, listServices } from './endpoints.ts';
export { applyMesh, currentMesh, meshHistory, rollbackMesh } from './versions.ts';
export { follow } from './watch.ts';
export { HOST_VIEW_PREFIXES, hostMeshView } from './host-view.ts';
export { PEERS_PREFIXES, hostPeersView } from './peers.ts';
export { HostViewFeed, jobOfKey } from './view-feed.ts';
