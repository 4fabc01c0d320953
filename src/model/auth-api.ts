/** API shapes of identity and access (`/v1/hosts/join`, `/v1/tokens`, `/v1/namespaces`, `/v1/audit`). */
import type { HostCertificateView } from './api.ts';

/**
 * What a join answers: the host's credential (a bearer token bound to the host), and its host
 * certificate when the join sent a CSR (the server has a CA).
 */
export interface JoinResult {
  hostId: string;
  credential: string;
  hostCertificate?: HostCertificateView;
}

export interface CreatedToken {
  name: string;
  token: string;
  role: string;
  namespaces: string[] | '*';
  expires: number | null;
}

export interface TokenListEntry {
  name: string;
  role: string;
  namespaces: string[] | '*';
  hostId: string | null;
  expires: number | null;
  createdAt: number;
  createdBy: string;
}

/** A quota change: a number sets a limit, null removes it, absent leaves it. */
export interface QuotaChange {
  cpu?: number | null;
  memoryBytes?: number | null;
  tasks?: number | null;
}

/** One audit record (`GET /v1/audit`, `dabba audit --json`): who did what, when, from where. */
export interface AuditRecord {
  at: number;
  /** The token's name, `host:ID`, or `anonymous`. */
  who: string;
  kind: 'token' | 'host' | 'anonymous';
  method: string;
  /** The route pattern, e.g. `PUT /v1/jobs/:name`. */
  route: string;
  path: string;
  namespace: string | null;
  /** The object named in the path (job, host, token, namespace), if any. */
  object: string | null;
  remote: string | null;
  status: number;
}
