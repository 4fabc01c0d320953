/**
 * Fetching images from the other server replicas. A replica asks its peers (for images, and for its
 * autoscaler's metrics reads) with a credential of its own: a `viewer` token named `replica.ID`, made by this replica in the store (only its hash is
 * stored, as for every token; the token itself never leaves this process) and renewed before it
 * expires (24 h). Every replica can read the store, which holds the cluster CA, so such a token
 * gives nothing a replica did not have. Over TLS, peers are checked against the cluster CA.
 */
import { Agent } from 'undici';
import { DabbaError, messageOf } from '../../errors/index.ts';
import type { Digest, ImageSource } from '../../image/index.ts';
import { generateToken, hashToken, type TokenRecord } from '../../auth/index.ts';
import type { Clock } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { withDispatcher } from '../agent-connection.ts';

export interface Peer {
  id: string;
  url: string;
}

const TOKEN_LIFE_MS = 24 * 3_600_000;
const RENEW_BEFORE_MS = 12 * 3_600_000;
/** How long a peer has to start answering (the body then streams as long as it takes). */
const PEER_ANSWER_MS = 15_000;

/** Set on requests between replicas: answer from the local store only (no fetch onward: no loops). */
export const PEER_HEADER = 'x-dabba-image-peer';

/** This replica's credential towards its peers (none when the API runs without authentication). */
export class PeerCredential {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #name: string;
  readonly #enabled: boolean;
  #current: { token: string; expiresAt: number } | undefined;
  #minting: Promise<string> | undefined;

  constructor(store: Store, clock: Clock, replicaId: string, enabled: boolean) {
    this.#store = store;
    this.#clock = clock;
    this.#name = `replica.${replicaId.replace(/[^A-Za-z0-9._-]/g, '_')}`.slice(0, 128);
    this.#enabled = enabled;
  }

  async headers(): Promise<Record<string, string>> {
    if (!this.#enabled) return {};
    const c = this.#current;
    const token =
      c !== undefined && c.expiresAt - this.#clock.now() > RENEW_BEFORE_MS
        ? c.token
        : await (this.#minting ??= this.#mint().finally(() => (this.#minting = undefined)));
    return { authorization: `Bearer ${token}` };
  }

  async #mint(): Promise<string> {
    const token = generateToken();
    const now = this.#clock.now();
    const record: TokenRecord = {
      name: this.#name,
      hash: hashToken(token),
      role: 'viewer',
      namespaces: '*',
      expiresAt: now + TOKEN_LIFE_MS,
      createdAt: now,
      createdBy: 'server replica (image fetches between replicas)',
    };
    await this.#store.put(keys.token(this.#name), JSON.stringify(record));
    this.#current = { token, expiresAt: now + TOKEN_LIFE_MS };
    return token;
  }

  /** Deletes the token (a replica leaving); best effort. */
  async revoke(): Promise<void> {
    if (this.#current === undefined) return;
    this.#current = undefined;
    await this.#store.delete(keys.token(this.#name)).catch(() => undefined);
  }
}

export interface PeerSourceOptions {
  /** The other live replicas. */
  peers: () => Promise<Peer[]>;
  credential: PeerCredential;
  /** The cluster CA (PEM) when the API runs over TLS. */
  caPem?: string;
}

let dispatchers: { ca: string; agent: Agent } | undefined;

function dispatcherFor(caPem: string | undefined): Agent | undefined {
  if (caPem === undefined) return undefined;
  if (dispatchers?.ca !== caPem) dispatchers = { ca: caPem, agent: new Agent({ connect: { ca: caPem } }) };
  return dispatchers.agent;
}

/**
 * Asks each peer in turn for `path` until one answers 2xx. Returns the answer and the peer; throws
 * a NotFoundError-like DabbaError when none has it (naming what each said).
 */
async function firstAnswer(
  o: PeerSourceOptions,
  path: string,
  headers: Record<string, string>,
): Promise<Response> {
  const peers = await o.peers();
  const said: string[] = [];
  const auth = await o.credential.headers();
  for (const p of peers) {
    try {
      const res = await fetch(
        `${p.url}${path}`,
        withDispatcher(
          {
            headers: { ...headers, ...auth, [PEER_HEADER]: '1' },
            signal: AbortSignal.timeout(PEER_ANSWER_MS),
          },
          dispatcherFor(o.caPem),
        ),
      );
      if (res.ok) return res;
      await res.body?.cancel();
      said.push(`${p.id}: ${res.status}`);
    } catch (e) {
      said.push(`${p.id}: ${messageOf(e)}`);
    }
  }
  throw new DabbaError(
    'DABBA_E_NOT_FOUND',
    peers.length === 0
      ? `${path}: no other server replica to fetch it from`
      : `${path}: no other server replica has it (${said.join('; ')})`,
    { details: { peers: said } },
  );
}

/**
 * An ImageSource over the peers: the manifest by digest (`digestOf` maps the reference pullImage
 * asks for to the digest the catalog gives it), blobs by digest with Range to resume. Everything is
 * verified by digest by the pull itself.
 */
export function peerSource(o: PeerSourceOptions, digestOf: (ref: string) => Digest): ImageSource {
  return {
    manifest: async (ref) => {
      const digest = digestOf(ref);
      const res = await firstAnswer(o, `/v1/images/manifests/${encodeURIComponent(digest)}`, {
        accept: '*/*',
      });
      const out: { bytes: Uint8Array; mediaType?: string; digest?: string } = {
        bytes: new Uint8Array(await res.arrayBuffer()),
        digest,
      };
      const type = res.headers.get('content-type');
      if (type) out.mediaType = type;
      return out;
    },
    blob: async (digest, offset) => {
      const res = await firstAnswer(
        o,
        `/v1/images/blobs/${encodeURIComponent(digest)}`,
        offset > 0 ? { range: `bytes=${offset}-` } : {},
      );
      if (!res.body) throw new DabbaError('DABBA_E_INTERNAL', `blob ${digest}: empty answer from a peer`);
      if (offset > 0 && res.status !== 206) {
        await res.body.cancel();
        throw new DabbaError('DABBA_E_INTERNAL', `a peer ignored the range request for blob ${digest}`);
      }
      return res.body;
    },
  };
}
