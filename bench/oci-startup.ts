/**
 * Container start latency of the oci runtime, against raw `runc run -d` of the same kind of bundle
 * timed in the same run, and conmon's memory per task.
 *
 *  - OciRuntime.start(): from the call until it returns with the task's process running. Includes
 *    everything a start does: address allocation, overlay mount, network namespace + veth + address,
 *    config.json, conmon running `runc create`, `runc start`.
 *  - raw: `runc run -d` of a bundle prepared beforehand (untimed: overlay mounted, network namespace
 *    created, the same config.json the runtime writes), from spawn until runc returns.
 *  Both for 1 task (median of N sequential starts, interleaved) and 50 tasks started at once.
 *  - conmon: RSS and PSS (shared pages split between the conmons) of each task's conmon.
 *
 * Usage (root, runc, conmon): node bench/oci-startup.ts [--runs 15] [--tasks 50] [--runtime runc|crun]
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ImageStore, createBuiltinImage, type ImageInfo } from '../src/image/index.ts';
import { silentLogger } from '../src/lib/index.ts';
import type { TaskSpec } from '../src/model/index.ts';
import { buildSpec, detectCgroups, detectOci, OciRuntime } from '../src/runtime/oci/index.ts';
import { findExecutable, runTool } from '../src/runtime/oci/tool.ts';
import { removeBenchLeftovers } from './bench-leftovers.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    tasks: { type: 'string', default: '50' },
    runtime: { type: 'string', default: 'runc' },
  },
});
const RUNS = Number(values.runs);
const TASKS = Number(values.tasks);
const which = values.runtime === 'crun' ? 'crun' : 'runc';

const detected = await detectOci({ ociRuntime: which });
if (!detected.ok) {
  console.error(`cannot run: ${detected.reason}`);
  process.exit(1);
}

const MiB = 1024 * 1024;
const spec: TaskSpec = {
  image: 'busybox',
  command: ['sleep', '3600'],
  env: {},
  resources: { cpu: 0.1, memoryBytes: 32 * MiB, pids: 32 },
  ports: [{ name: 'http', port: 8080, protocol: 'tcp' }],
  health: {},
  restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
  stopGracePeriodMs: 0,
};

/**
 * CPU used by this benchmark and every process it starts (the runtime's tools, conmon, runc
 * before the container moves into its own cgroup): the benchmark runs in a cpuacct cgroup of its
 * own (cgroup v1), so other load on the machine does not count. Undefined where that is not possible.
 */
const CPUACCT = '/sys/fs/cgroup/cpuacct/dabba-bench-cpu';
async function ownCpuGroup(): Promise<boolean> {
  try {
    await mkdir(CPUACCT, { recursive: true });
    await writeFile(join(CPUACCT, 'cgroup.procs'), String(process.pid));
    return true;
  } catch {
    return false;
  }
}
async function leaveCpuGroup(): Promise<void> {
  const own = /^\d+:(?:[^:]*,)?cpuacct(?:,[^:]*)?:(.*)$/m.exec(
    await readFile('/proc/1/cgroup', 'utf8').catch(() => ''),
  );
  await writeFile(join('/sys/fs/cgroup/cpuacct', own?.[1] ?? '/', 'cgroup.procs'), String(process.pid)).catch(
    () => undefined,
  );
  await runTool('rmdir', [CPUACCT]);
}
async function cpuMs(): Promise<number> {
  return Number(await readFile(join(CPUACCT, 'cpuacct.usage'), 'utf8').catch(() => 'NaN')) / 1e6;
}

function ms(ns: bigint): number {
  return Number(ns) / 1e6;
}
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-oci-'));
const images = await ImageStore.open(join(dir, 'images'));
const image = await createBuiltinImage(images, 'busybox');
const runtimePath = (await findExecutable(which)) ?? which;
const rawRoot = join(dir, 'raw-runtime');
const layout = await detectCgroups();
const rt = new OciRuntime({
  stateDir: join(dir, 'state'),
  images,
  ociRuntime: which,
  network: { bridge: 'dbbench0', subnet: '10.251.0.0/16' },
  logger: silentLogger,
});
const started: string[] = [];
const rawIds: string[] = [];

/** A bundle like the runtime's, prepared untimed: overlay mounted, netns created, config written. */
async function rawBundle(id: string, img: ImageInfo): Promise<string> {
  const b = join(dir, 'raw', id);
  await mkdir(b, { recursive: true });
  await images.prepareRootfs(img, b);
  await runTool('ip', ['netns', 'add', `dbraw-${id}`]);
  await writeFile(join(b, 'hosts'), '127.0.0.1 localhost\n');
  await writeFile(join(b, 'hostname'), `${id}\n`);
  const config = buildSpec({
    args: spec.command,
    env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${id}`],
    cwd: '/',
    uid: 0,
    gid: 0,
    hostname: id,
    netnsPath: `/run/netns/dbraw-${id}`,
    cgroupsPath: `/dabba-bench/${id}`,
    resources: spec.resources,
    hostsFile: join(b, 'hosts'),
    hostnameFile: join(b, 'hostname'),
    cgroupVersion: layout.version,
    swapLimit: true,
    nofile: 1024,
  });
  await writeFile(join(b, 'config.json'), JSON.stringify(config));
  return b;
}

/** `runc run -d`, timed from spawn to exit. */
function rawRun(id: string, bundle: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(runtimePath, ['--root', rawRoot, 'run', '-d', '--bundle', bundle, id], {
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const t = ms(process.hrtime.bigint() - t0);
      if (code === 0) {
        rawIds.push(id);
        resolve(t);
      } else reject(new Error(`${which} run exited ${code}`));
    });
  });
}

function runOnce(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtimePath, ['--root', rawRoot, ...args], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${which} ${args[0]} exited ${code}`)),
    );
  });
}

/** `runc create` then `runc start` (the split conmon imposes), timed from the first spawn. */
async function rawCreateStart(id: string, bundle: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await runOnce(['create', '--bundle', bundle, id]);
  rawIds.push(id);
  await runOnce(['start', id]);
  return ms(process.hrtime.bigint() - t0);
}

async function oursStart(id: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  await rt.start({ taskId: id, job: 'bench', version: 1, spec, env: {} });
  started.push(id);
  return ms(process.hrtime.bigint() - t0);
}

async function cleanupRaw(): Promise<void> {
  for (const id of rawIds.splice(0)) {
    await runTool(runtimePath, ['--root', rawRoot, 'delete', '--force', id]);
    await runTool('ip', ['netns', 'del', `dbraw-${id}`]);
    await images.releaseRootfs(join(dir, 'raw', id));
  }
}

async function cleanupOurs(): Promise<void> {
  await Promise.all(
    started.splice(0).map(async (id) => {
      await rt.stop(id, 0);
      await rt.remove(id);
    }),
  );
}

async function memoryOf(pid: number): Promise<{ rss: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (k: string): number =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}

const accounted = await ownCpuGroup();
try {
  // Warm up: unpack the layers, create the bridge, page in the binaries.
  await oursStart('warm');
  await cleanupOurs();
  await rawRun('warm', await rawBundle('warm', image));
  await cleanupRaw();

  // 1 task, interleaved.
  const one = { ours: [] as number[], raw: [] as number[], split: [] as number[] };
  for (let i = 0; i < RUNS; i++) {
    const b = await rawBundle(`r${i}`, image);
    one.raw.push(await rawRun(`r${i}`, b));
    await cleanupRaw();
    const c = await rawBundle(`c${i}`, image);
    one.split.push(await rawCreateStart(`c${i}`, c));
    await cleanupRaw();
    one.ours.push(await oursStart(`o${i}`));
    await cleanupOurs();
  }

  // N tasks at once.
  const bundles = await Promise.all(Array.from({ length: TASKS }, (_, i) => rawBundle(`m${i}`, image)));
  let c0 = await cpuMs();
  let t0 = process.hrtime.bigint();
  const rawEach = await Promise.all(bundles.map((b, i) => rawRun(`m${i}`, b)));
  const rawTotal = ms(process.hrtime.bigint() - t0);
  const rawCpu = (await cpuMs()) - c0;
  await cleanupRaw();
  c0 = await cpuMs();
  const node0 = process.cpuUsage();
  t0 = process.hrtime.bigint();
  const oursEach = await Promise.all(Array.from({ length: TASKS }, (_, i) => oursStart(`n${i}`)));
  const oursTotal = ms(process.hrtime.bigint() - t0);
  const oursCpu = (await cpuMs()) - c0;
  const nodeCpu = process.cpuUsage(node0);

  // conmon memory, with the N tasks running.
  const mem: { rss: number; pss: number }[] = [];
  for (const id of started) {
    const res = await rt.resourcesOf(id);
    if (!res) continue;
    const pid = Number((await readFile(join(res.taskDir, 'conmon.pid'), 'utf8')).trim());
    mem.push(await memoryOf(pid));
  }
  await cleanupOurs();

  const f = (x: number): string => x.toFixed(1);
  console.log(`oci start latency (${which}, ${detected.reason}; busybox \`sleep 3600\`)`);
  console.log('');
  console.log(`| | OciRuntime.start | raw \`${which} run -d\` | ratio |`);
  console.log('|---|---:|---:|---:|');
  console.log(
    `| 1 task, median of ${RUNS} | ${f(median(one.ours))} ms | ${f(median(one.raw))} ms | ${(median(one.ours) / median(one.raw)).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task, p90 | ${f(pct(one.ours, 90))} ms | ${f(pct(one.raw, 90))} ms | ${(pct(one.ours, 90) / pct(one.raw, 90)).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task, median, vs raw \`${which} create\` + \`${which} start\` | ${f(median(one.ours))} ms | ${f(median(one.split))} ms | ${(median(one.ours) / median(one.split)).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks at once, all running | ${f(oursTotal)} ms | ${f(rawTotal)} ms | ${(oursTotal / rawTotal).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks at once, per-task p50 | ${f(median(oursEach))} ms | ${f(median(rawEach))} ms | ${(median(oursEach) / median(rawEach)).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks at once, per-task p95 | ${f(pct(oursEach, 95))} ms | ${f(pct(rawEach, 95))} ms | ${(pct(oursEach, 95) / pct(rawEach, 95)).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks at once, CPU per task (agent + tools) | ${f(oursCpu / TASKS)} ms | ${f(rawCpu / TASKS)} ms | ${(oursCpu / rawCpu).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks at once, CPU per task in the agent process itself | ${f((nodeCpu.user + nodeCpu.system) / 1000 / TASKS)} ms | | |`,
  );
  console.log('');
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  console.log(
    `conmon per task (${mem.length} running): RSS ${(avg(mem.map((m) => m.rss)) / 1024).toFixed(0)} KiB, ` +
      `PSS ${(avg(mem.map((m) => m.pss)) / 1024).toFixed(0)} KiB`,
  );
} finally {
  if (accounted) await leaveCpuGroup();
  await cleanupOurs().catch(() => undefined);
  await cleanupRaw().catch(() => undefined);
  await (await rt.network()).destroyBridge();
  await rt.close();
  await removeBenchLeftovers(dir);
}
