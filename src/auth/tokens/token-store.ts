/** Creating, listing and revoking tokens in the store. */
import { ConflictError, DabbaError, NotFoundError, ValidationError } from '../../errors/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { REPLICA_TOKEN_PREFIX, type NamespaceGrant, type Role } from '../principal.ts';
import { generateToken, hashToken } from './token-format.ts';
import { TOKEN_NAME_PATTERN, hostCredentialName, type TokenRecord } from './token-record.ts';

export interface NewToken {
  name: string;
  role: Role | 'host';
  namespaces: NamespaceGrant;
  hostId?: string;
  expiresAt?: number;
  createdBy: string;
  /** Use this token instead of a new random one (bootstrap from a file). */
  token?: string;
}

export function checkTokenName(name: string): void {
  if (!TOKEN_NAME_PATTERN.test(name)) {
    throw new ValidationError(
      `"${name}" is not a valid token name (letters, digits, ".", "_", "-"; at most 128)`,
      [{ path: 'name', message: 'invalid token name', found: name }],
    );
  }
}

function recordOf(t: NewToken, token: string, now: number): TokenRecord {
  return {
    name: t.name,
    hash: hashToken(token),
    role: t.role,
    namespaces: t.namespaces,
    ...(t.hostId === undefined ? {} : { hostId: t.hostId }),
    ...(t.expiresAt === undefined ? {} : { expiresAt: t.expiresAt }),
    createdAt: now,
    createdBy: t.createdBy,
  };
}

/** Stores a new token (its name must be free); returns the bare token, which is never stored. */
export async function createToken(
  store: Store,
  t: NewToken,
  now: number,
): Promise<{ token: string; record: TokenRecord }> {
  checkTokenName(t.name);
  if (t.name.startsWith(REPLICA_TOKEN_PREFIX)) {
    throw new ValidationError(
      `"${t.name}": names starting with "${REPLICA_TOKEN_PREFIX}" are kept for the server replicas' own credentials; pick another name`,
      [{ path: 'name', message: 'reserved token name', found: t.name }],
    );
  }
  const token = t.token ?? generateToken();
  const record = recordOf(t, token, now);
  const r = await store.txn({
    compare: [{ key: keys.token(t.name), target: 'create', op: '=', createRevision: 0 }],
    success: [{ type: 'put', key: keys.token(t.name), value: JSON.stringify(record) }],
  });
  if (!r.succeeded) {
    throw new ConflictError(
      `a token named "${t.name}" exists already (revoke it first, or pick another name)`,
      {
        details: { name: t.name },
      },
    );
  }
  return { token, record };
}

/**
 * A host's credential: a token bound to the host id, replacing the host's previous credential (an
 * agent that joins again gets a new one; the old one stops working at once).
 */
export async function issueHostCredential(
  store: Store,
  hostId: string,
  createdBy: string,
  now: number,
): Promise<string> {
  const token = generateToken();
  const record = recordOf(
    { name: hostCredentialName(hostId), role: 'host', namespaces: [], hostId, createdBy },
    token,
    now,
  );
  await store.put(keys.token(record.name), JSON.stringify(record));
  return token;
}

export async function listTokens(store: Store): Promise<TokenRecord[]> {
  const { kvs } = await store.range(keys.tokensPrefix);
  return kvs.map((kv) => JSON.parse(kv.value) as TokenRecord);
}

export async function revokeToken(store: Store, name: string): Promise<void> {
  if (name === '') throw new DabbaError('DABBA_E_BAD_REQUEST', 'token name is empty');
  const r = await store.delete(keys.token(name));
  if (r.deleted === 0) throw new NotFoundError('token', name);
}

/**
 * A fresh cluster's admin token: created (as `admin`) when no token of role admin exists. Returns
 * the bare token when this call created it, undefined when an admin token existed already. Replicas
 * starting together race on the create-only compare: one creates, the others see it.
 */
export async function bootstrapAdminToken(
  store: Store,
  now: number,
  token?: string,
): Promise<string | undefined> {
  const existing = await listTokens(store);
  if (existing.some((t) => t.role === 'admin')) return undefined;
  try {
    const r = await createToken(
      store,
      {
        name: 'admin',
        role: 'admin',
        namespaces: '*',
        createdBy: 'bootstrap',
        ...(token === undefined ? {} : { token }),
      },
      now,
    );
    return r.token;
  } catch (e) {
    if (e instanceof ConflictError) return undefined;
    throw e;
  }
}
