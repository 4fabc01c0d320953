/**
 * `GET /v1/hosts/ID/peers`: the other live hosts that hold a range of the task network, with the
 * address each advertises, so that an agent routes each range via its host (host-gw).
 */
export interface HostPeer {
  host: string;
  /** The host's advertised address (its agent URL's host). */
  address: string;
  /** The host's range of the task network (CIDR, e.g. "10.88.1.0/24"). */
  subnet: string;
}

export interface HostPeersView {
  revision: number;
  /** Every live host but the asking one that has a range and an agent URL, by host id. */
  peers: HostPeer[];
}
