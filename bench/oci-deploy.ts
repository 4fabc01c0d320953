/**
 * Deploy -> running latency with the oci runtime through the real control plane, against the raw
 * runtimes and Podman on the same kind of bundle, all timed in the same run, and the memory each
 * task costs the agent and its conmon.
 *
 * In one run: the real server and one real agent per OCI runtime (crun and runc; and crun with its
 * image store on btrfs with --btrfs DIR), each its own host, all on this machine
 * (bench/oci-deploy/cluster.ts). A job of the builtin `hello` image (busybox httpd on port 8080) is
 * deployed with `PUT /v1/jobs/NAME`, pinned to one agent:
 *
 *  - dabba, running: from sending the PUT until the task's status `running` is in the store (what
 *    `dabba status` shows); answering: until its address:8080 accepts a TCP connection.
 *  - raw (bench/oci-deploy/raw.ts), on bundles prepared beforehand, untimed (overlay mounted,
 *    network namespace connected to a bridge with an address, config.json as the runtime writes
 *    it): `runc run -d`, `crun run -d`, `podman run -d --rootfs` of the bundle's root filesystem
 *    in its network namespace: running = the command returned; answering = address:8080 accepts
 *    a connection. Also `runc create` + `runc start` and conmon + `runc create` + `runc start`.
 *  - 1 task: median of --rounds rounds, everything interleaved (the raw ones in a rotating order);
 *    N tasks: one job of N replicas, against N raw runs at once.
 *  - where dabba's time goes, from the store's watch and the agents' debug logs.
 *  - memory: conmon RSS/PSS per task; the crun agent's RSS with N tasks running minus with none, / N.
 *
 * Usage (root; runc, crun, conmon; podman for its baseline: `apt-get install -y podman`):
 *   node bench/oci-deploy.ts [--rounds 11] [--tasks 50] [--btrfs DIR]
 * --btrfs DIR: a directory on btrfs for a third agent (crun) whose tasks start from snapshots.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ImageStore, createBuiltinImage } from '../src/image/index.ts';
import { deleteSubvolume } from '../src/image/btrfs-snapshots.ts';
import { sleep } from '../src/lib/index.ts';
import { detectCgroups, detectOci } from '../src/runtime/oci/index.ts';
import { removeBenchLeftovers } from './bench-leftovers.ts';
import { BenchCluster, type Agent, type Deployed } from './oci-deploy/cluster.ts';
import { RawBaselines, type RawTimes } from './oci-deploy/raw.ts';
import { report, type Results } from './oci-deploy/report.ts';
import { memoryOf, now } from './oci-deploy/util.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '11' },
    tasks: { type: 'string', default: '50' },
    btrfs: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const TASKS = Number(values.tasks);

for (const rt of ['runc', 'crun'] as const) {
  const detected = await detectOci({ ociRuntime: rt });
  if (!detected.ok) {
    console.error(`cannot run: ${detected.reason}`);
    process.exit(1);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-ocideploy-'));
const rawImages = await ImageStore.open(join(dir, 'raw-images'));
const raw = new RawBaselines(
  dir,
  rawImages,
  await createBuiltinImage(rawImages, 'hello'),
  await detectCgroups(),
);
const cluster = new BenchCluster(dir);
/** The btrfs agent's data directory (its images' flattened subvolumes are deleted at the end). */
const btrfsDir = values.btrfs === undefined ? undefined : await mkdtemp(join(values.btrfs, 'dabba-bench-'));

type RawKind = 'runc' | 'crun' | 'podman';
async function rawOnce(kind: RawKind, id: string, everyMs = 1): Promise<RawTimes> {
  const b = await raw.bundle(id);
  return kind === 'podman' ? raw.podmanRun(b, everyMs) : raw.run(kind, b, everyMs);
}

try {
  await raw.init();
  if (raw.podman === undefined)
    console.error('podman is not installed (apt-get install -y podman): its baseline is left out');
  await cluster.start();
  const agents: Agent[] = [await cluster.addAgent('crun', TASKS), await cluster.addAgent('runc', TASKS)];
  if (btrfsDir !== undefined)
    agents.push(
      await cluster.addAgent('crun', TASKS, { name: 'crun-btrfs', dataDir: join(btrfsDir, 'agent') }),
    );
  const kinds: RawKind[] = raw.podman === undefined ? ['runc', 'crun'] : ['runc', 'crun', 'podman'];

  // Warm up: unpack layers, create bridges, page in binaries.
  for (const a of agents) {
    await cluster.deploy(a, `warm-${a.name}`, 1);
    await cluster.undeploy(`warm-${a.name}`);
  }
  for (const k of kinds) await rawOnce(k, `w${k.slice(0, 2)}`);
  await raw.cleanup();

  // 1 task, everything interleaved.
  const r: Results = {
    rounds: ROUNDS,
    tasks: TASKS,
    rawOne: { runc: [], crun: [], podman: [] },
    split: [],
    conmon: [],
    one: new Map(agents.map((a) => [a.name, [] as Deployed[]])),
    rawMany: {},
    many: new Map(),
    conmons: [],
    agentMemory: [],
  };
  for (let i = 0; i < ROUNDS; i++) {
    const steps: (() => Promise<void>)[] = [
      ...kinds.map(
        (k) => async (): Promise<void> => void r.rawOne[k].push(await rawOnce(k, `${k.slice(0, 2)}${i}`)),
      ),
      async (): Promise<void> => void r.split.push(await raw.createStart(await raw.bundle(`s${i}`))),
      async (): Promise<void> => void r.conmon.push(await raw.conmonStart(await raw.bundle(`c${i}`))),
      ...agents.map((a) => async (): Promise<void> => {
        r.one.get(a.name)?.push(await cluster.deploy(a, `one-${a.name}-${i}`, 1));
        await cluster.undeploy(`one-${a.name}-${i}`);
      }),
    ];
    for (let k = 0; k < steps.length; k++) {
      await steps[(i + k) % steps.length]?.();
      await raw.cleanup();
    }
  }

  // Agent memory with no tasks (after the churn above settled).
  const crunAgent = agents[0] as Agent;
  await sleep(2000);
  r.agentMemory.push(await cluster.agentMemory(crunAgent));

  // N at once.
  for (const k of kinds) {
    const bundles = await Promise.all(
      Array.from({ length: TASKS }, (_, i) => raw.bundle(`${k.slice(0, 2)}m${i}`)),
    );
    const t0 = now();
    const runs = await Promise.all(
      bundles.map((b) => (k === 'podman' ? raw.podmanRun(b, 5) : raw.run(k, b, 5))),
    );
    r.rawMany[k] = { running: Math.max(...runs.map((x) => x.running)), answering: now() - t0 };
    await raw.cleanup();
  }
  for (const a of agents) {
    const many = await cluster.deploy(a, `many-${a.name}`, TASKS);
    r.many.set(a.name, many);
    if (a === crunAgent) {
      // Memory with N running.
      await sleep(2000);
      r.agentMemory.push(await cluster.agentMemory(a));
      for (const t of many.tasks) {
        const pidText = await readFile(
          join(a.dir, 'runtime', 'oci', 'tasks', t.id, 'conmon.pid'),
          'utf8',
        ).catch(() => '');
        const pid = Number(pidText.trim());
        if (pid > 0) r.conmons.push(await memoryOf(pid));
      }
    }
    await cluster.undeploy(`many-${a.name}`);
    if (a === crunAgent) {
      await sleep(2000);
      r.agentMemory.push(await cluster.agentMemory(a));
    }
  }
  report(r, agents);
} finally {
  await cluster.close().catch((e: unknown) => console.error('cluster cleanup:', e));
  await raw.close().catch((e: unknown) => console.error('raw cleanup:', e));
  await removeBenchLeftovers(dir);
  if (btrfsDir !== undefined) {
    const snapshots = join(btrfsDir, 'agent', 'images', 'snapshots');
    for (const name of await readdir(snapshots).catch(() => [] as string[]))
      await deleteSubvolume(join(snapshots, name)).catch((e: unknown) => console.error('btrfs cleanup:', e));
    await rm(btrfsDir, { recursive: true, force: true });
  }
}
