/**
 * The only place that picks concrete implementations: the SQLite store, the process or oci runtime.
 */
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { startAgent } from '../agent/index.ts';
import type { AgentDaemonOptions, Daemon, Daemons, DevOptions, ServerDaemonOptions } from '../cli/index.ts';
import { DabbaClient } from '../client/index.ts';
import { DabbaError } from '../errors/index.ts';
import { createLogger, type Logger } from '../lib/index.ts';
import { NAME_PATTERN } from '../lib/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { ProcessRuntime } from '../runtime/process/index.ts';
import { startServer } from '../server/index.ts';
import { SqliteStore } from '../store/index.ts';

function defaultHostId(): string {
  const h = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return NAME_PATTERN.test(h) ? h : 'local';
}

function chooseRuntime(
  driver: 'oci' | 'process' | 'auto',
  dataDir: string,
  logger: Logger,
): Promise<{ runtime: Runtime; note: string }> {
  if (driver === 'oci') {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      'the oci runtime is not available in this build; use --driver process',
    );
  }
  const runtime = new ProcessRuntime({
    stateDir: join(dataDir, 'runtime', 'process'),
    logger: logger.child({ part: 'runtime' }),
  });
  return Promise.resolve({
    runtime,
    note:
      driver === 'process'
        ? 'runtime: process (asked for with --driver process)'
        : 'runtime: process (plain child processes; no container isolation)',
  });
}

async function openSqlite(dataDir: string, logger: Logger): Promise<{ store: SqliteStore; name: string }> {
  await mkdir(dataDir, { recursive: true });
  const path = resolve(dataDir, 'store.db');
  const store = await SqliteStore.open(path, { logger: logger.child({ part: 'store' }) });
  return { store, name: `sqlite:${path}` };
}

export const daemons: Daemons = {
  async dev(o: DevOptions): Promise<Daemon> {
    // The terminal is for the person; the structured log goes to a file in the data dir.
    const logFile = resolve(o.dataDir, 'dabba.log');
    const logger = createLogger('dabba-dev', { file: logFile });
    const { store, name } = await openSqlite(join(o.dataDir, 'server'), logger);
    let server;
    try {
      server = await startServer({
        store,
        storeName: name,
        host: o.host,
        port: o.port,
        logger: logger.child({ part: 'server' }),
      });
    } catch (e) {
      await store.close();
      throw listenError(e, o.host, o.port);
    }
    const agentDir = join(o.dataDir, 'agent');
    const { runtime, note } = await chooseRuntime(o.driver, agentDir, logger);
    const agent = await startAgent({
      client: new DabbaClient({ addr: server.url }),
      runtime,
      hostId: defaultHostId(),
      labels: { 'dabba.io/mode': 'dev' },
      dataDir: agentDir,
      logger: logger.child({ part: 'agent' }),
    });
    return {
      url: server.url,
      notes: [note, `host: ${defaultHostId()}`, `log: ${logFile}`],
      async close() {
        await agent.close();
        await runtime.close();
        await server.close();
        await store.close();
      },
    };
  },

  async server(o: ServerDaemonOptions): Promise<Daemon> {
    const logger = createLogger('dabba-server');
    if (o.store !== undefined && o.store !== 'sqlite') {
      throw new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `store "${o.store}" is not supported yet (use the default sqlite store)`,
      );
    }
    const { store, name } = await openSqlite(o.dataDir, logger);
    try {
      const server = await startServer({ store, storeName: name, host: o.host, port: o.port, logger });
      return {
        url: server.url,
        notes: [`store: ${name}`],
        async close() {
          await server.close();
          await store.close();
        },
      };
    } catch (e) {
      await store.close();
      throw listenError(e, o.host, o.port);
    }
  },

  async agent(o: AgentDaemonOptions): Promise<Daemon> {
    const logger = createLogger('dabba-agent');
    await mkdir(o.dataDir, { recursive: true });
    const { runtime, note } = await chooseRuntime(o.driver, o.dataDir, logger);
    const [lhost, lport] = (o.listen ?? '127.0.0.1:0').split(':');
    const hostId = o.hostId ?? defaultHostId();
    const agent = await startAgent({
      client: new DabbaClient({ addr: o.servers }),
      runtime,
      hostId,
      labels: o.labels,
      dataDir: o.dataDir,
      logger,
      listenHost: lhost || '127.0.0.1',
      listenPort: Number(lport ?? 0),
    });
    return {
      url: agent.endpointUrl,
      notes: [note, `host: ${hostId}`],
      async close() {
        await agent.close();
        await runtime.close();
      },
    };
  },
};

function listenError(e: unknown, host: string, port: number): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'EADDRINUSE') {
    return new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `${host}:${port} is already in use (another dabba? pick one with --listen)`,
      { cause: e },
    );
  }
  if (code === 'EADDRNOTAVAIL' || code === 'EACCES') {
    return new DabbaError('DABBA_E_BAD_REQUEST', `cannot listen on ${host}:${port} (${code})`, { cause: e });
  }
  return e;
}
