/**
 * Removes every container an oci agent of a testbed host left (run inside the host's namespace,
 * after its agent is gone): `node scripts/testbed/oci-sweep.ts AGENT_DATA_DIR`. Each container is
 * re-adopted, stopped and removed with its cgroup, overlay and network namespace, as the agent
 * would; prints how many. For tests whose jobs could not be stopped through the cluster.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore } from '../../src/image/index.ts';
import { OciRuntime } from '../../src/runtime/oci/index.ts';

const dataDir = process.argv[2];
if (dataDir === undefined) throw new Error('usage: oci-sweep.ts AGENT_DATA_DIR');
const stateDir = join(dataDir, 'runtime', 'oci');
if (!existsSync(stateDir)) {
  process.stdout.write('{"removed":0}\n');
} else {
  const rt = new OciRuntime({ stateDir, images: await ImageStore.open(join(dataDir, 'images')) });
  const { running, exited } = await rt.recover();
  for (const h of running) await rt.stop(h.taskId, 0);
  const ids = [...running.map((h) => h.taskId), ...exited.map((e) => e.taskId)];
  for (const id of ids) await rt.remove(id);
  await rt.close();
  process.stdout.write(`${JSON.stringify({ removed: ids.length })}\n`);
}
