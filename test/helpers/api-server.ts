/**
 * A real server (API, scheduler) on a fresh SQLite store in a temp dir, listening on loopback, with
 * a client for it: what the HTTP API tests start. `close()` stops the server, closes the store and
 * deletes the dir, each even if the one before failed.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DabbaClient } from '../../src/client/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { TEST_ADMIN_TOKEN } from './auth.ts';

export interface TestServer {
  /** The temp dir: the store is `store.db` in it; tests may put more there (agents' data dirs). */
  dir: string;
  store: SqliteStore;
  server: RunningServer;
  /** A client with the admin token. */
  client: DabbaClient;
  /** The server's bootstrap admin token. */
  adminToken: string;
  close(): Promise<void>;
}

/** `prefix` names the temp dir; `options` override the defaults (host TTL 30 s). */
export async function startTestServer(
  prefix: string,
  options: Partial<Omit<ServerOptions, 'store' | 'storeName'>> = {},
): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), `dabba-${prefix}-`));
  const cleanup = async (store?: SqliteStore, server?: RunningServer): Promise<void> => {
    try {
      await server?.close();
    } finally {
      try {
        await store?.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  };
  let store: SqliteStore | undefined;
  try {
    store = await SqliteStore.open(join(dir, 'store.db'));
    const server = await startServer({
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      hostTtlSeconds: 30,
      auth: { adminToken: TEST_ADMIN_TOKEN },
      ...options,
      store,
      storeName: 'sqlite',
    });
    const opened = store;
    return {
      dir,
      store,
      server,
      client: new DabbaClient({
        addr: server.url,
        token: TEST_ADMIN_TOKEN,
        // An HTTPS server (forceTls) is verified against its cluster CA.
        ...(server.pki.tls ? { ca: server.pki.ca.certPem } : {}),
      }),
      adminToken: TEST_ADMIN_TOKEN,
      close: () => cleanup(opened, server),
    };
  } catch (e) {
    await cleanup(store);
    throw e;
  }
}
