/**
 * Credentials the CLI keeps per server, in `$XDG_CONFIG_HOME/dabba/credentials.json` (default
 * `~/.config/dabba/`), mode 0600: `dabba login` and `dabba dev` write them; every command picks its
 * token as `--token` > `DABBA_TOKEN` > the stored credentials of the server's address.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseAddrs } from '../client/index.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

export interface ServerCredentials {
  token: string;
  /** PEM of the cluster CA the server is verified against (an https:// server). */
  ca?: string;
  /** When they were stored (epoch ms). */
  savedAt: number;
}

export interface CredentialsFile {
  servers: Record<string, ServerCredentials>;
}

export function credentialsPath(env: Record<string, string | undefined>): string {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'dabba', 'credentials.json');
}

export async function readCredentials(path: string): Promise<CredentialsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { servers: {} };
    throw new CliError(`cannot read ${path}: ${(e as Error).message}`, EXIT.FAILED, { cause: e });
  }
  try {
    const f = JSON.parse(text) as Partial<CredentialsFile>;
    return { servers: typeof f.servers === 'object' && f.servers !== null ? f.servers : {} };
  } catch (cause) {
    throw new CliError(`${path} is not valid JSON (fix or delete it, then dabba login again)`, EXIT.FAILED, {
      cause,
    });
  }
}

/** The key a server's credentials are stored under: its normalized URL. */
export function serverKey(addr: string): string {
  return parseAddrs(addr)[0] ?? addr;
}

/** Stores (replaces) the credentials of one server; the file stays 0600, written whole. */
export async function saveCredentials(path: string, addr: string, c: ServerCredentials): Promise<void> {
  const f = await readCredentials(path);
  f.servers[serverKey(addr)] = c;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

/** The stored token for the first of these addresses that has one. */
export async function storedToken(path: string, addrs: readonly string[]): Promise<string | undefined> {
  const f = await readCredentials(path);
  for (const a of addrs) {
    const c = f.servers[a];
    if (c && typeof c.token === 'string') return c.token;
  }
  return undefined;
}
