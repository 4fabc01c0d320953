/**
 * The signed-in session: the token (from the login form or `/ui/#token=T`), where it is kept
 * (sessionStorage, or localStorage when "remember" is ticked), and the typed client built from it.
 * The token never goes into a URL the server sees: the fragment is read here and removed.
 */
import { DabbaClient } from '../../src/client/browser.ts';

const KEY = 'dabba.token';

export interface Identity {
  name: string;
  role: string;
  namespaces: string[] | '*';
}

export function storedToken(): string | undefined {
  return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY) ?? undefined;
}

export function storeToken(token: string, remember: boolean): void {
  forgetToken();
  (remember ? localStorage : sessionStorage).setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

/** `#token=T` (the whole fragment): stores T for this tab and leaves the fragment clean. */
export function takeTokenFromFragment(): boolean {
  const m = /^#token=([^&]+)/.exec(location.hash);
  if (m?.[1] === undefined) return false;
  storeToken(decodeURIComponent(m[1]), false);
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  return true;
}

export function clientFor(token: string, namespace?: string): DabbaClient {
  return new DabbaClient({
    addr: location.origin,
    token,
    timeoutMs: 15_000,
    ...(namespace === undefined ? {} : { namespace }),
  });
}

/** Who the token is (`GET /v1/whoami`); throws the API's error (401 for a bad token). */
export async function identify(client: DabbaClient): Promise<Identity> {
  const me = await client.whoami();
  return { name: me.name ?? me.kind, role: me.role ?? me.kind, namespaces: me.namespaces ?? '*' };
}

/** The namespace the UI shows: `default` when the token may read it, else the token's first. */
export function namespaceFor(me: Identity): string {
  if (me.namespaces === '*' || me.namespaces.includes('default')) return 'default';
  return me.namespaces[0] ?? 'default';
}

/** Deployers and admins write jobs; viewers (and hosts) see no write buttons. */
export function canWrite(me: Identity): boolean {
  return me.role === 'deployer' || me.role === 'admin';
}
