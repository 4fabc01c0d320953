/**
 * The only place that picks concrete implementations: the SQLite store, the process or oci runtime.
 */
import { hostname } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectCapacity, startAgent, type RunningAgent } from '../agent/index.ts';
import type { AgentDaemonOptions, Daemon, Daemons, DevOptions, ServerDaemonOptions } from '../cli/index.ts';
import { DabbaClient } from '../client/index.ts';
import { DabbaError } from '../errors/index.ts';
import { createToken, issueHostCredential } from '../auth/index.ts';
import {
  NAME_PATTERN,
  createLogger,
  distinctFileSystems,
  installProcessFaultPolicy,
  shortId,
  type Logger,
  diskSpaceSync,
} from '../lib/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { ImageStore, createBuiltinImage } from '../image/index.ts';
import { OciRuntime, detectOci } from '../runtime/oci/index.ts';
import { ProcessRuntime } from '../runtime/process/index.ts';
import { startServer } from '../server/index.ts';
import { SqliteStore, type Store } from '../store/index.ts';
import {
  adminTokenNote,
  agentIdentity,
  devHostCredentials,
  readSecret,
  writeSecret,
  type AgentIdentity,
} from './daemon-identity.ts';
import { prepareDataDir } from './data-dir.ts';
import { meshOption, proxyPortsFor } from './mesh-option.ts';

function defaultHostId(): string {
  const h = hostname()
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
  return NAME_PATTERN.test(h) ? h : 'local';
}

interface ChosenRuntime {
  runtime: Runtime;
  note: string;
  images?: ImageStore;
}

/**
 * Picks the task runtime: `oci` (runc or crun under conmon) where it can run, else `process`.
 * With `auto`, says which one it chose and why. `images` is the image store oci tasks use.
 */
async function chooseRuntime(
  driver: 'oci' | 'process' | 'auto',
  dataDir: string,
  logger: Logger,
  opts: {
    ociRuntime?: 'runc' | 'crun';
    images?: ImageStore;
    subnet?: string;
    bridge?: string;
    /** process runtime: the address tasks are reachable at (default 127.0.0.1). */
    advertise?: string;
    /** oci runtime: the mesh proxy's ports tasks may reach on their gateway. */
    proxyPorts?: { from: number; to: number };
  } = {},
): Promise<ChosenRuntime> {
  const processRuntime = (why: string): ChosenRuntime => ({
    runtime: new ProcessRuntime({
      stateDir: join(dataDir, 'runtime', 'process'),
      logger: logger.child({ part: 'runtime' }),
      ...(opts.advertise ? { address: opts.advertise } : {}),
    }),
    note: `runtime: process (${why})`,
  });
  if (driver === 'process') return processRuntime('asked for with --driver process');
  const detected = await detectOci(opts.ociRuntime ? { ociRuntime: opts.ociRuntime } : {});
  if (!detected.ok || detected.runtime === undefined) {
    if (driver === 'oci') {
      throw new DabbaError('DABBA_E_BAD_REQUEST', `the oci runtime cannot run here: ${detected.reason}`, {
        details: { reason: detected.reason },
      });
    }
    return processRuntime(`containers unavailable: ${detected.reason}; plain child processes, no isolation`);
  }
  const images = opts.images ?? (await ImageStore.open(join(dataDir, 'images')));
  const network: { bridge?: string; subnet?: string; proxyPorts?: { from: number; to: number } } = {};
  if (opts.subnet !== undefined) network.subnet = opts.subnet;
  if (opts.proxyPorts !== undefined) network.proxyPorts = opts.proxyPorts;
  if (opts.bridge !== undefined) network.bridge = opts.bridge;
  const runtime = new OciRuntime({
    stateDir: join(dataDir, 'runtime', 'oci'),
    images,
    ociRuntime: detected.runtime,
    network,
    logger: logger.child({ part: 'runtime' }),
  });
  return {
    runtime,
    images,
    note: `runtime: oci with ${detected.runtime} and conmon (${driver === 'oci' ? 'asked for with --driver oci' : detected.reason})`,
  };
}

/** dev with containers: the example images, built from the host's busybox-static, if missing. */
async function ensureExampleImages(images: ImageStore, logger: Logger): Promise<string> {
  const built: string[] = [];
  for (const name of ['busybox', 'hello'] as const) {
    if (await images.get(name)) continue;
    try {
      await createBuiltinImage(images, name);
      built.push(name);
    } catch (e) {
      logger.warn({ err: e, image: name }, 'example image not built');
      return `images: ${name} not built (${e instanceof Error ? e.message : String(e)})`;
    }
  }
  return built.length > 0
    ? `images: built ${built.join(', ')} from busybox`
    : 'images: busybox, hello present';
}

/**
 * The server's store: the embedded SQLite store in the data dir (default, or `sqlite`), or an etcd
 * cluster: `etcd://HOST:PORT,HOST:PORT[/NAMESPACE]`.
 */
async function openStore(
  url: string | undefined,
  dataDir: string,
  logger: Logger,
): Promise<{ store: Store; name: string }> {
  if (url === undefined || url === 'sqlite') return openSqlite(dataDir, logger);
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m?.[1]) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--store "${url}" is not a store address (use sqlite, or etcd://HOST:PORT,HOST:PORT[/NAMESPACE])`,
    );
  }
  const endpoints = m[1].split(',').map((e) => `http://${e.trim()}`);
  for (const e of endpoints) {
    if (!/^http:\/\/[^:/]+:\d{1,5}$/.test(e)) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', `--store: "${e.slice(7)}" is not HOST:PORT`);
    }
  }
  const namespace = m[2] === undefined || m[2] === '/' ? '' : m[2];
  // Loaded here only: the etcd client brings gRPC and protobuf, which every other daemon does without.
  const { EtcdStore } = await import('../store/etcd/index.ts');
  const store = await EtcdStore.connect(endpoints, { logger: logger.child({ part: 'store' }), namespace });
  return { store, name: `etcd://${m[1]}${namespace}` };
}

async function openSqlite(dataDir: string, logger: Logger): Promise<{ store: SqliteStore; name: string }> {
  await prepareDataDir(dataDir);
  const path = resolve(dataDir, 'store.db');
  const store = await SqliteStore.open(path, { logger: logger.child({ part: 'store' }) });
  return { store, name: `sqlite:${path}` };
}

/**
 * Tasks of the process runtime inherit the agent's PATH: the Node running Dabba (24, which runs
 * TypeScript, e.g. the counter SDK that examples/hello imports) comes first on it, so `node` in a
 * job's command is that one rather than an older system Node.
 */
function nodeFirstOnPath(): void {
  const dir = dirname(process.execPath);
  const path = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  if (path.split(delimiter)[0] !== dir) process.env['PATH'] = `${dir}${delimiter}${path}`;
}

/**
 * dev: the local agent gets its host certificate straight from the server in this process (as a
 * join would give it), so logs flow over TLS to the address of that certificate, as in a cluster.
 */
/** The web UI this checkout built (scripts/build-ui.ts, run by `npm ci`/`npm install`). */
const WEB_UI_DIR = fileURLToPath(new URL('../../web/dist/', import.meta.url));

/** dev's admin token: the one in the data dir, or one made anew there (that file was deleted). */
async function devAdminToken(dataDir: string, bootstrap: string | undefined, store: Store): Promise<string> {
  const saved = (await adminTokenNote(dataDir, bootstrap)).token;
  if (saved !== undefined) return saved;
  const { token } = await createToken(
    store,
    { name: `dev-admin-${shortId(6)}`, role: 'admin', namespaces: '*', createdBy: 'dabba dev' },
    Date.now(),
  );
  await writeSecret(join(dataDir, 'admin.token'), token);
  return token;
}

export const daemons: Daemons = {
  async dev(o: DevOptions): Promise<Daemon> {
    nodeFirstOnPath();
    await prepareDataDir(o.dataDir);
    // The terminal is for the person; the structured log goes to a file in the data dir.
    const logFile = resolve(o.dataDir, 'dabba.log');
    const logger = createLogger('dabba-dev', { file: logFile });
    const agentDir = join(o.dataDir, 'agent');
    await prepareDataDir(agentDir, { what: "the agent's directory" });
    // Server and agent share one image store: importing once serves the local agent directly.
    const images = await ImageStore.open(join(o.dataDir, 'images'));
    const chosen = await chooseRuntime(o.driver, agentDir, logger, {
      images,
      ...(o.ociRuntime ? { ociRuntime: o.ociRuntime } : {}),
      ...proxyPortsFor(o.meshPortBase),
    });
    const { runtime, note } = chosen;
    const notes = [note];
    if (chosen.images) notes.push(await ensureExampleImages(images, logger));
    const { store, name } = await openSqlite(join(o.dataDir, 'server'), logger);
    let server;
    try {
      server = await startServer({
        store,
        storeName: name,
        host: o.host,
        port: o.port,
        logger: logger.child({ part: 'server' }),
        images,
        replicaId: 'dev',
        uiDir: WEB_UI_DIR,
        dataDir: join(o.dataDir, 'server'),
        storage: {
          paths: await distinctFileSystems([o.dataDir, join(o.dataDir, 'images')]),
          ...(o.watermark ? { watermark: o.watermark } : {}),
        },
        ...(o.taskNetwork === undefined ? {} : { taskNetwork: o.taskNetwork }),
        ...(o.hostSubnetSize === undefined ? {} : { hostSubnetSize: o.hostSubnetSize }),
      });
    } catch (e) {
      await store.close();
      await runtime.close();
      throw listenError(e, o.host, o.port);
    }
    // dev sets up the local user: the admin token in the data dir (made anew if that file was
    // deleted), and the agent's host identity, issued directly (no join needed in one process): a
    // host credential (plain HTTP on loopback) and a host certificate (TLS; logs and exec).
    let adminToken: string;
    let agent: RunningAgent;
    try {
      adminToken = await devAdminToken(o.dataDir, server.adminToken, store);
      const credential = await issueHostCredential(store, defaultHostId(), 'dabba dev', Date.now());
      const credentials = await devHostCredentials(server, store, agentDir, defaultHostId());
      agent = await startAgent({
        client: new DabbaClient({
          addr: server.url,
          token: credential,
          ca: credentials.caPem,
          cert: credentials.certPem,
          key: credentials.keyPem,
        }),
        runtime,
        hostId: defaultHostId(),
        labels: { 'dabba.io/mode': 'dev' },
        dataDir: agentDir,
        logger: logger.child({ part: 'agent' }),
        credentials,
        ...(chosen.images ? { images: chosen.images } : {}),
        ...(o.watermark ? { watermark: o.watermark } : {}),
        ...(o.metrics ? { metrics: o.metrics } : {}),
        ...meshOption(o.meshPortBase, runtime, undefined, logger),
      });
    } catch (e) {
      // The server is up: closed here, or its listener and loops would keep the process running
      // after the error is printed (a data dir turned read-only hung `dabba dev` this way).
      await server.close().catch(() => undefined);
      await runtime.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      throw e;
    }
    const caFile = server.pki.caFile;
    const daemon: Daemon = {
      url: server.url,
      runtime: runtime.name,
      adminToken,
      notes: [
        ...notes,
        `ui: ${server.url}/ui/`,
        `host: ${defaultHostId()}`,
        `admin token: ${join(o.dataDir, 'admin.token')}`,
        `log: ${logFile}`,
        ...(server.pki.tls && caFile ? [`tls: HTTPS; clients need --ca ${caFile} (or DABBA_CA)`] : []),
      ],
      ...(server.pki.tls && caFile ? { caFile } : {}),
      async close() {
        uninstall();
        await agent.close();
        await runtime.close();
        await server.close();
        await store.close();
      },
    };
    const uninstall = installProcessFaultPolicy({ logger, close: () => daemon.close() });
    return daemon;
  },

  async server(o: ServerDaemonOptions): Promise<Daemon> {
    // The data dir holds the images and the CA even when the store is etcd.
    await prepareDataDir(o.dataDir);
    const logger = createLogger('dabba-server');
    const { store, name } = await openStore(o.store, o.dataDir, logger);
    try {
      const images = await ImageStore.open(join(o.dataDir, 'images'));
      const bootstrap = o.adminTokenFile === undefined ? undefined : await readSecret(o.adminTokenFile);
      if (o.adminTokenFile !== undefined && bootstrap === undefined) {
        throw new DabbaError(
          'DABBA_E_BAD_REQUEST',
          `--admin-token-file ${o.adminTokenFile} is missing or empty`,
        );
      }
      const server = await startServer({
        ...(bootstrap === undefined ? {} : { auth: { adminToken: bootstrap } }),
        store,
        storeName: name,
        host: o.host,
        port: o.port,
        logger,
        images,
        uiDir: WEB_UI_DIR,
        ...(o.hostTimeoutSeconds ? { hostTtlSeconds: o.hostTimeoutSeconds } : {}),
        // A stable id lets a restarted replica take its shards back at once instead of after its
        // lease. With the embedded store there is one replica: the hostname. With etcd, replicas
        // may share a host: a random id unless --replica-id gives one.
        ...(o.replicaId !== undefined
          ? { replicaId: o.replicaId }
          : o.store === undefined || o.store === 'sqlite'
            ? { replicaId: defaultHostId() }
            : {}),
        ...(o.shards === undefined ? {} : { shardCount: o.shards }),
        ...(o.configFanout === undefined ? {} : { configDist: { fanout: o.configFanout } }),
        ...(o.leaseTtlSeconds === undefined ? {} : { leaseTtlSeconds: o.leaseTtlSeconds }),
        ...(o.advertiseUrl === undefined ? {} : { advertiseUrl: o.advertiseUrl }),
        ...(o.taskNetwork === undefined ? {} : { taskNetwork: o.taskNetwork }),
        ...(o.hostSubnetSize === undefined ? {} : { hostSubnetSize: o.hostSubnetSize }),
        dataDir: o.dataDir,
        ...(o.forceTls === true ? { forceTls: true } : {}),
        ...(o.tlsNames === undefined ? {} : { tlsNames: o.tlsNames }),
        storage: {
          paths: await distinctFileSystems([o.dataDir, join(o.dataDir, 'images')]),
          ...(o.watermark ? { watermark: o.watermark } : {}),
        },
      });
      const admin = await adminTokenNote(o.dataDir, server.adminToken);
      if (server.adminToken !== undefined)
        logger.info({ file: join(o.dataDir, 'admin.token') }, 'admin token created');
      const { pki } = server;
      const daemon: Daemon = {
        url: server.url,
        runtime: '',
        ...(admin.token === undefined ? {} : { adminToken: admin.token }),
        notes: [
          `store: ${name}`,
          `ui: ${server.url}/ui/`,
          admin.note,
          `cluster CA: ${pki.caFile ?? '(in the store)'}${pki.caCreated ? ' (created now)' : ''}, pin ${pki.ca.pin}`,
          pki.tls
            ? `tls: HTTPS; clients and agents verify it with --ca ${pki.caFile ?? 'ca.crt'} (or DABBA_CA)`
            : 'tls: plain HTTP on loopback (--tls serves HTTPS here too)',
        ],
        async close() {
          uninstall();
          await server.close();
          await store.close();
        },
      };
      const uninstall = installProcessFaultPolicy({ logger, close: () => daemon.close() });
      return daemon;
    } catch (e) {
      await store.close();
      throw listenError(e, o.host, o.port);
    }
  },

  async agent(o: AgentDaemonOptions): Promise<Daemon> {
    nodeFirstOnPath();
    await prepareDataDir(o.dataDir);
    const logger = createLogger('dabba-agent');
    const chosen = await chooseRuntime(o.driver, o.dataDir, logger, {
      ...(o.ociRuntime ? { ociRuntime: o.ociRuntime } : {}),
      ...(o.subnet ? { subnet: o.subnet } : {}),
      ...(o.bridge ? { bridge: o.bridge } : {}),
      ...(o.advertise ? { advertise: o.advertise } : {}),
      ...proxyPortsFor(o.meshPortBase),
    });
    const { runtime, note } = chosen;
    const [lhost, lport] = (o.listen ?? ':0').split(':');
    const hostId = o.hostId ?? defaultHostId();
    const detected = await detectCapacity();
    const capacity = {
      ...detected,
      ...(o.cpu === undefined ? {} : { cpu: o.cpu }),
      ...(o.memoryBytes === undefined ? {} : { memoryBytes: o.memoryBytes }),
    };
    let identity: AgentIdentity;
    try {
      identity = await agentIdentity(o, hostId);
    } catch (e) {
      await runtime.close();
      throw e;
    }
    const { credential, credentials, ca } = identity;
    const agent = await startAgent({
      client: new DabbaClient({
        addr: o.servers,
        ...(credential === undefined ? {} : { token: credential }),
        ...(ca === undefined ? {} : { ca }),
        ...(credentials ? { cert: credentials.certPem, key: credentials.keyPem } : {}),
      }),
      ...(credentials ? { credentials } : {}),
      runtime,
      hostId,
      labels: o.labels,
      dataDir: o.dataDir,
      ...(o.configDir === undefined ? {} : { configDir: o.configDir }),
      logger,
      capacity,
      ...(lhost ? { listenHost: lhost } : {}),
      listenPort: Number(lport ?? 0),
      ...(chosen.images ? { images: chosen.images } : {}),
      ...(chosen.images
        ? { imageBudget: { bytes: o.imageBudgetBytes ?? defaultImageBudget(chosen.images.dir) } }
        : {}),
      ...(o.watermark ? { watermark: o.watermark } : {}),
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.hostHistory === undefined ? {} : { hostHistory: o.hostHistory }),
      ...meshOption(o.meshPortBase, runtime, o.advertise, logger),
    });
    const daemon: Daemon = {
      url: agent.endpointUrl,
      runtime: runtime.name,
      notes: [
        note,
        `host: ${hostId}`,
        credentials
          ? `host certificate: ${credentials.hostId} at ${credentials.address}, until ${credentials.notAfter.toISOString()}`
          : 'host certificate: none (the agent is not joined)',
      ],
      async close() {
        uninstall();
        await agent.close();
        await runtime.close();
      },
    };
    const uninstall = installProcessFaultPolicy({ logger, close: () => daemon.close() });
    return daemon;
  },
};

/** An agent's image budget by default: a quarter of the store's file system, at most 10 GiB. */
function defaultImageBudget(dir: string): number {
  const total = diskSpaceSync(dir)?.totalBytes ?? 0;
  return Math.max(2 ** 30, Math.min(10 * 2 ** 30, Math.floor(total / 4)));
}

/** What an agent proves itself with, and the CA it verifies the server against. */
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
