/**
 * N tasks at once on crun, through the control plane, several rounds: the part of
 * bench/oci-deploy.ts that issue 16 asks to cut (50 tasks, PUT -> all running), alone, so that two
 * trees (before and after a change) can be run alternately in the same conditions
 * (bench/oci-deploy/before-after.sh). Prints one JSON line per round: all running, all answering,
 * and p50/max of each step (ms after the PUT), then the medians over the rounds.
 *
 * Usage (root; crun, conmon): node bench/oci-deploy-many.ts [--rounds 3] [--tasks 50]
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { detectOci } from '../src/runtime/oci/index.ts';
import { removeBenchLeftovers } from './bench-leftovers.ts';
import { BenchCluster, type DeployedTask } from './oci-deploy/cluster.ts';
import { maxOf, median } from './oci-deploy/util.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    tasks: { type: 'string', default: '50' },
  },
});
const ROUNDS = Number(values.rounds);
const TASKS = Number(values.tasks);

const detected = await detectOci({ ociRuntime: 'crun' });
if (!detected.ok) {
  console.error(`cannot run: ${detected.reason}`);
  process.exit(1);
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-ocimany-'));
const cluster = new BenchCluster(dir);
const STEPS: [string, (t: DeployedTask) => number][] = [
  ['agentSaw', (t) => t.agentSaw],
  ['runtimeCalled', (t) => t.runtimeCalled],
  ['prepare', (t) => t.runtime?.prepare ?? NaN],
  ['prepare.rootfs', (t) => t.runtime?.rootfs ?? NaN],
  ['prepare.netns', (t) => t.runtime?.netns ?? NaN],
  ['prepare.address', (t) => t.runtime?.address ?? NaN],
  ['create', (t) => t.runtime?.create ?? NaN],
  ['start', (t) => t.runtime?.start ?? NaN],
  ['runtimeReturned', (t) => t.runtimeReturned],
  ['statusStored', (t) => t.statusStored],
];
const r = (x: number): number => Math.round(x);
try {
  await cluster.start();
  const agent = await cluster.addAgent('crun', TASKS);
  await cluster.deploy(agent, 'warm', 1);
  await cluster.undeploy('warm');
  const all: { running: number; answering: number }[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const d = await cluster.deploy(agent, `many-${i}`, TASKS);
    await cluster.undeploy(`many-${i}`);
    all.push({ running: d.allRunning, answering: d.allAnswering });
    const steps = Object.fromEntries(
      STEPS.map(([k, pick]) => {
        const xs = d.tasks.map(pick);
        return [k, [r(median(xs)), r(maxOf(xs))]];
      }),
    );
    console.log(JSON.stringify({ round: i, running: r(d.allRunning), answering: r(d.allAnswering), steps }));
  }
  console.log(
    JSON.stringify({
      tasks: TASKS,
      rounds: ROUNDS,
      medianRunning: r(median(all.map((x) => x.running))),
      medianAnswering: r(median(all.map((x) => x.answering))),
    }),
  );
} finally {
  await cluster.close().catch((e: unknown) => console.error('cluster cleanup:', e));
  await removeBenchLeftovers(dir);
}
