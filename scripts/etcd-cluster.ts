/**
 * A local etcd cluster for trying Dabba's HA control plane (`dabba server --store etcd://...`):
 * real etcd processes (the etcd-server package) on 127.0.0.1, data and logs under DIR.
 *
 * With --servers N it also starts N `dabba server` replicas on it (127.0.0.1:7171, 7172, ...), each
 * with its own --replica-id and data dir under DIR, and prints the DABBA_ADDR that lists them all.
 *
 * Usage: node scripts/etcd-cluster.ts up --dir DIR [--members 3] [--servers 3]
 *        node scripts/etcd-cluster.ts status --dir DIR
 *        node scripts/etcd-cluster.ts down --dir DIR   # kills the servers and members, removes their data
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  isMemberProcess,
  readEtcdClusterState,
  startEtcdCluster,
  stopEtcdClusterAt,
  writeEtcdClusterState,
} from '../test/helpers/etcd-cluster.ts';

const USAGE =
  'usage: node scripts/etcd-cluster.ts up --dir DIR [--members N] [--servers N] | status --dir DIR | down --dir DIR';
const DABBA = resolve(import.meta.dirname, '..', 'src', 'bin', 'dabba.ts');

interface ServerProc {
  id: string;
  pid: number;
  url: string;
}

/** Starts `dabba server` replicas on the cluster, detached, logging to DIR/server-N.log. */
async function startServers(dir: string, count: number, store: string): Promise<ServerProc[]> {
  const procs: ServerProc[] = [];
  // One admin token for the replicas sharing the store: whichever starts first bootstraps it.
  const tokenFile = join(dir, 'admin.token');
  if (!existsSync(tokenFile)) {
    writeFileSync(tokenFile, `dabba_${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
  }
  for (let i = 1; i <= count; i++) {
    const port = 7170 + i;
    const log = openSync(join(dir, `server-${i}.log`), 'a');
    const child = spawn(
      process.execPath,
      [
        DABBA,
        'server',
        '--data-dir',
        join(dir, `server-${i}`),
        '--listen',
        `127.0.0.1:${port}`,
        '--store',
        store,
        '--replica-id',
        `r${i}`,
        '--admin-token-file',
        tokenFile,
      ],
      { detached: true, stdio: ['ignore', log, log] },
    );
    child.unref();
    procs.push({ id: `r${i}`, pid: child.pid ?? 0, url: `http://127.0.0.1:${port}` });
  }
  writeFileSync(join(dir, 'servers.json'), JSON.stringify(procs, null, 2));
  for (const p of procs) {
    const until = Date.now() + 20_000;
    for (;;) {
      try {
        if ((await fetch(`${p.url}/v1/health`)).ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > until)
        throw new Error(`server ${p.id} did not start; see ${join(dir, `server-${p.id.slice(1)}.log`)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return procs;
}

function stopServers(dir: string): string[] {
  let procs: ServerProc[] = [];
  try {
    procs = JSON.parse(readFileSync(join(dir, 'servers.json'), 'utf8')) as ServerProc[];
  } catch {
    return [];
  }
  const stopped: string[] = [];
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGTERM');
      stopped.push(p.id);
    } catch {
      // already gone
    }
  }
  rmSync(join(dir, 'servers.json'), { force: true });
  return stopped;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    members: { type: 'string', default: '3' },
    servers: { type: 'string', default: '0' },
    help: { type: 'boolean', short: 'h' },
  },
});

const command = positionals[0];
if (values.help === true || command === undefined || values.dir === undefined) {
  console.log(USAGE);
  process.exit(values.help === true ? 0 : 2);
}
const dir = values.dir;

try {
  switch (command) {
    case 'up': {
      const members = Number(values.members);
      if (!Number.isInteger(members) || members < 1) throw new Error(`--members must be a positive integer`);
      if (readEtcdClusterState(dir) !== undefined) {
        throw new Error(`${dir} already holds a cluster: run \`down --dir ${dir}\` first`);
      }
      const cluster = await startEtcdCluster({ members, dir, detached: true });
      writeEtcdClusterState(cluster);
      const hosts = cluster.endpoints.map((e) => e.replace(/^http:\/\//, ''));
      console.log(cluster.endpoints.join(','));
      console.error(
        `etcd cluster of ${members} up (data and logs in ${cluster.dir}); use it with:\n` +
          `  dabba server --store etcd://${hosts.join(',')} ...\n` +
          `stop it with: node scripts/etcd-cluster.ts down --dir ${dir}`,
      );
      const servers = Number(values.servers);
      if (!Number.isInteger(servers) || servers < 0 || servers > 9) throw new Error('--servers must be 0..9');
      if (servers > 0) {
        const procs = await startServers(dir, servers, `etcd://${hosts.join(',')}`);
        console.error(`${servers} dabba server replicas up (logs in ${dir}/server-N.log); use them with:`);
        console.error(`  export DABBA_ADDR=${procs.map((p) => p.url).join(',')}`);
        console.error(`  export DABBA_TOKEN=$(cat ${join(dir, 'admin.token')})`);
        console.error('  bin/dabba servers');
        console.error(
          `  bin/dabba agent --server ${procs.map((p) => p.url).join(',')} --data-dir /tmp/agent --join-token $(bin/dabba token create agent-$RANDOM --role agent)`,
        );
      }
      break;
    }
    case 'status': {
      const state = readEtcdClusterState(dir);
      if (state === undefined) throw new Error(`no cluster in ${dir}`);
      for (const m of state.members) {
        const up = isMemberProcess(m.pid, m.dataDir);
        console.log(`${m.name} ${m.clientUrl} ${up ? `running (pid ${m.pid})` : 'down'}`);
      }
      break;
    }
    case 'down': {
      const servers = stopServers(dir);
      if (servers.length > 0) console.error(`stopped servers ${servers.join(', ')}`);
      const stopped = await stopEtcdClusterAt(dir);
      console.error(
        `stopped ${stopped.length === 0 ? 'nothing (no member was running)' : stopped.join(', ')}`,
      );
      break;
    }
    default:
      console.error(USAGE);
      process.exit(2);
  }
} catch (e) {
  console.error(`etcd-cluster: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
