import type { NamespaceGrant, Role } from '../principal.ts';

/** A token as stored under /auth/tokens/NAME: never the token itself, only its hash. */
export interface TokenRecord {
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  /** `host`: a host credential, bound to `hostId` (what a join gives an agent). */
  role: Role | 'host';
  namespaces: NamespaceGrant;
  hostId?: string;
  /** Epoch ms after which the token no longer works; absent: never expires. */
  expiresAt?: number;
  createdAt: number;
  createdBy: string;
}

/** What `GET /v1/tokens` shows of a token (no hash). */
export interface TokenInfo {
  name: string;
  role: TokenRecord['role'];
  namespaces: NamespaceGrant;
  hostId: string | null;
  expires: number | null;
  createdAt: number;
  createdBy: string;
}

export function tokenInfo(r: TokenRecord): TokenInfo {
  return {
    name: r.name,
    role: r.role,
    namespaces: r.namespaces,
    hostId: r.hostId ?? null,
    expires: r.expiresAt ?? null,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
  };
}

/** The name of the host credential of a host. */
export function hostCredentialName(hostId: string): string {
  return `host.${hostId}`;
}

/** Token names: letters, digits, `.`, `_`, `-`; 1 to 128. */
export const TOKEN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
