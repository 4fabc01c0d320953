/**
 * This replica's own credential for asking its peers (the autoscaler's metrics reads): a token named
 * `replica-ID`, role viewer in every namespace, valid a day and renewed an hour before it ends. Made
 * only when needed (there are peers and auth is on); `dabba token ls` lists it like any token.
 */
import { createToken, revokeToken } from '../auth/index.ts';
import type { Clock } from '../lib/index.ts';
import type { Store } from '../store/index.ts';

const VALID_MS = 24 * 3_600_000;
const RENEW_BEFORE_MS = 3_600_000;

export class ReplicaToken {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #name: string;
  #current: { header: string; expiresAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(store: Store, clock: Clock, replicaId: string) {
    this.#store = store;
    this.#clock = clock;
    this.#name = `replica-${replicaId}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128);
  }

  /** Revokes the token if one was made (a replica leaving the group; best effort). */
  async revoke(): Promise<void> {
    if (this.#current === undefined) return;
    this.#current = undefined;
    await revokeToken(this.#store, this.#name).catch(() => undefined);
  }

  /** `Bearer TOKEN`, made or renewed when due. */
  async header(): Promise<string> {
    const now = this.#clock.now();
    if (this.#current !== undefined && this.#current.expiresAt - RENEW_BEFORE_MS > now)
      return this.#current.header;
    this.#pending ??= this.#renew(now).finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #renew(now: number): Promise<string> {
    await revokeToken(this.#store, this.#name).catch(() => undefined); // none yet, or a previous run's
    const expiresAt = now + VALID_MS;
    const { token } = await createToken(
      this.#store,
      { name: this.#name, role: 'viewer', namespaces: '*', expiresAt, createdBy: 'system:replica' },
      now,
    );
    this.#current = { header: `Bearer ${token}`, expiresAt };
    return this.#current.header;
  }
}
