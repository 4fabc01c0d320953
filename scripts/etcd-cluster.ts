/**
 * A local etcd cluster for trying Dabba's HA control plane (`dabba server --store etcd://...`):
 * real etcd processes (the etcd-server package) on 127.0.0.1, data and logs under DIR.
 *
 * Usage: node scripts/etcd-cluster.ts up --dir DIR [--members 3]   # prints the client endpoints
 *        node scripts/etcd-cluster.ts status --dir DIR
 *        node scripts/etcd-cluster.ts down --dir DIR                # kills the members, removes their data
 */
import { parseArgs } from 'node:util';
import {
  isMemberProcess,
  readEtcdClusterState,
  startEtcdCluster,
  stopEtcdClusterAt,
  writeEtcdClusterState,
} from '../test/helpers/etcd-cluster.ts';

const USAGE =
  'usage: node scripts/etcd-cluster.ts up --dir DIR [--members N] | status --dir DIR | down --dir DIR';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string' },
    members: { type: 'string', default: '3' },
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
