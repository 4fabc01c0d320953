/**
 * Deploy -> running latency with the oci runtime through the real control plane, against raw
 * `runc run -d` of the same kind of bundle timed in the same run, and the memory each task costs
 * the agent and its conmon.
 *
 * In one run: the real server (`startServer`, SQLite store, in this process) and a real agent
 * (`dabba agent --driver oci`, a separate process, so its memory is its own) on one host. A job of
 * the builtin `hello` image (busybox httpd on port 8080) is deployed with `PUT /v1/jobs/NAME`:
 *
 *  - dabba, running: from sending the PUT until the task's status `running` is in the store (what
 *    `dabba status` shows); answering: until its address:8080 accepts a TCP connection.
 *  - raw: `runc run -d` of a bundle prepared beforehand, untimed (overlay mounted, network namespace
 *    connected to a bridge with an address, config.json as the runtime writes it): running = runc
 *    returned; answering = address:8080 accepts a connection.
 *  - the design's floor, raw too, on the same kind of bundle: `runc create` + `runc start` (the split
 *    alone), and conmon running `runc create` (sync pipe) then `runc start` (the split under conmon,
 *    as issue 3 prescribes), each until `runc start` returned.
 *  - 1 task: median of --rounds rounds, dabba and raw interleaved (the raw ones in a rotating order); N tasks: one job of N replicas,
 *    against N raw `runc run -d` at once.
 *  - where dabba's time goes, from the store's watch (assignment stored, status stored) and the
 *    agent's debug log (assignment seen, runtime start called/returned, the runtime's own
 *    prepare/create/start split).
 *  - memory: conmon RSS/PSS per task; the agent's RSS with N tasks running minus with none, / N.
 *
 * Usage (root, runc, conmon): node bench/oci-deploy.ts [--rounds 11] [--tasks 50] [--oci-runtime runc|crun]
 * (--oci-runtime: the agent's runtime; the raw baselines are runc either way)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DabbaClient } from '../src/client/index.ts';
import { ImageStore, createBuiltinImage, imageDefaults, type ImageInfo } from '../src/image/index.ts';
import { silentLogger, sleep } from '../src/lib/index.ts';
import { keys, toUserForm, validateJob, type TaskStatus } from '../src/model/index.ts';
import { BridgeNetwork, buildSpec, detectCgroups, detectOci, parseSubnet } from '../src/runtime/oci/index.ts';
import { conmonArgs } from '../src/runtime/oci/conmon.ts';
import { findExecutable, runTool } from '../src/runtime/oci/tool.ts';
import { removeBenchLeftovers } from './bench-leftovers.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '11' },
    tasks: { type: 'string', default: '50' },
    /** The agent's OCI runtime; the raw baselines are runc either way (the issue's anchor). */
    'oci-runtime': { type: 'string', default: 'runc' },
  },
});
const ROUNDS = Number(values.rounds);
const TASKS = Number(values.tasks);
const AGENT_RUNTIME = values['oci-runtime'];
if (AGENT_RUNTIME !== 'runc' && AGENT_RUNTIME !== 'crun') {
  console.error(`--oci-runtime must be runc or crun, not "${AGENT_RUNTIME}"`);
  process.exit(2);
}
const HOST = 'ocibench';
const AGENT_NET = { bridge: 'dbdep0', subnet: '10.247.0.0/16' };
const RAW_NET = { bridge: 'dbraw0', subnet: parseSubnet('10.246.0.0/16') };
const PORT = 8080;
/** Each task's CPU limit (a low quota throttles runc's own init in the task's cgroup: 0.01 costs ~1 s). */
const CPU = 0.25;
const DABBA = resolve(import.meta.dirname, '..', 'src', 'bin', 'dabba.ts');

const detected = await detectOci({ ociRuntime: 'runc' });
if (!detected.ok) {
  console.error(`cannot run: ${detected.reason}`);
  process.exit(1);
}

/** Epoch milliseconds with sub-millisecond precision (comparable with the agent's `at` fields). */
function now(): number {
  return performance.timeOrigin + performance.now();
}
function pct(xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const median = (xs: number[]): number => pct(xs, 50);
/** The largest finite value (a task whose agent log line came too late counts as missing). */
const maxOf = (xs: number[]): number => pct(xs, 100);
const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = connect(port, host);
    s.setTimeout(500, () => (s.destroy(), r(false)));
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}
/**
 * When host:port first accepts a connection (tried every `everyMs`: 1 for one task, 5 for many);
 * rejects after 60 s, so a task that never answers fails the run instead of hanging it.
 */
async function answering(host: string, port: number, everyMs = 1): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (!(await canConnect(host, port))) {
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not answer within 60 s`);
    await sleep(everyMs);
  }
  return now();
}

async function memoryOf(pid: number): Promise<{ rss: number; pss: number }> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const kb = (k: string): number =>
    Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? 0) * 1024;
  return { rss: kb('Rss'), pss: kb('Pss') };
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-ocideploy-'));
const agentDir = join(dir, 'agent');
const serverImages = await ImageStore.open(join(dir, 'server-images'));
await createBuiltinImage(serverImages, 'hello');
// The agent gets the same image (the builtin images are reproducible) so no pull is timed.
await createBuiltinImage(await ImageStore.open(join(agentDir, 'images')), 'hello');
const rawImages = await ImageStore.open(join(dir, 'raw-images'));
const rawImage = await createBuiltinImage(rawImages, 'hello');
const store = await SqliteStore.open(join(dir, 'store.db'));
const server = await startServer({
  store,
  storeName: 'sqlite',
  host: '127.0.0.1',
  port: 0,
  logger: silentLogger,
  images: serverImages,
});
const client = new DabbaClient({ token: server.adminToken ?? '', addr: server.url });
const watchStop = new AbortController();
/** Jobs deployed and not yet stopped: stopped in the end whatever happens. */
const deployed = new Set<string>();

// ---- what the store and the agent say, with times ----

/** task id -> time its assignment / its `running` status reached the store. */
const assignedAt = new Map<string, number>();
const runningAt = new Map<string, number>();
const statusOf = new Map<string, TaskStatus>();
const changed = new Set<() => void>();
function onChange(): void {
  for (const fn of changed) fn();
}
async function watchStore(): Promise<void> {
  const assignPrefix = keys.hostAssignmentsPrefix(HOST);
  const watches = [
    (async () => {
      for await (const batch of store.watch(assignPrefix, { signal: watchStop.signal })) {
        const t = now();
        for (const e of batch) {
          const id = e.kv.key.slice(assignPrefix.length);
          if (e.type === 'put' && !assignedAt.has(id)) assignedAt.set(id, t);
        }
        onChange();
      }
    })(),
    (async () => {
      for await (const batch of store.watch(keys.statusPrefix, { signal: watchStop.signal })) {
        const t = now();
        for (const e of batch) {
          if (e.type !== 'put') continue;
          const s = JSON.parse(e.kv.value) as TaskStatus;
          statusOf.set(s.id, s);
          if (s.state === 'running' && !runningAt.has(s.id)) runningAt.set(s.id, t);
        }
        onChange();
      }
    })(),
  ];
  await Promise.allSettled(watches);
}
const watching = watchStore();

interface AgentEvent {
  at: number;
  ms?: number | { prepare: number; create: number; start: number; total: number };
}
/** task id -> message -> the agent's log entry (debug level). */
const agentLog = new Map<string, Map<string, AgentEvent>>();
let agentOutput = '';
function onAgentLine(line: string): void {
  let e: { msg?: string; task?: string; taskId?: string; at?: number; time?: number; ms?: AgentEvent['ms'] };
  try {
    e = JSON.parse(line) as typeof e;
  } catch {
    return;
  }
  const id = e.task ?? e.taskId;
  if (!id || !e.msg) return;
  let m = agentLog.get(id);
  if (!m) agentLog.set(id, (m = new Map<string, AgentEvent>()));
  if (!m.has(e.msg)) m.set(e.msg, { at: e.at ?? e.time ?? NaN, ...(e.ms !== undefined ? { ms: e.ms } : {}) });
}

const MEMORY_FILE = join(dir, 'agent-memory.json');
const GC_HOOK = `import { writeFileSync } from 'node:fs';
process.on('SIGUSR2', () => {
  // Several full collections: V8 frees some caches (e.g. old bytecode) only after a few.
  for (let i = 0; i < 6; i++) globalThis.gc();
  writeFileSync(${JSON.stringify(MEMORY_FILE)}, JSON.stringify(process.memoryUsage()));
});`;

/** The agent's memory right after a full garbage collection. */
async function agentMemory(proc: ChildProcess): Promise<NodeJS.MemoryUsage> {
  await rm(MEMORY_FILE, { force: true });
  proc.kill('SIGUSR2');
  for (let i = 0; i < 200; i++) {
    const text = await readFile(MEMORY_FILE, 'utf8').catch(() => '');
    if (text !== '') return JSON.parse(text) as NodeJS.MemoryUsage;
    await sleep(10);
  }
  throw new Error('the agent did not report its memory');
}

function startAgentProcess(): ChildProcess {
  const proc = spawn(
    process.execPath,
    [
      // On SIGUSR2 the agent collects garbage and writes process.memoryUsage() to a file: memory
      // figures then do not depend on when V8 last collected.
      '--expose-gc',
      // V8 otherwise drops unused bytecode after a while (4-5 MB here), whenever that happens.
      '--no-flush-bytecode',
      '--import',
      `data:text/javascript,${encodeURIComponent(GC_HOOK)}`,
      DABBA,
      'agent',
      '--join-token',
      server.adminToken ?? '',
      '--server',
      server.url,
      '--data-dir',
      agentDir,
      '--host-id',
      HOST,
      '--driver',
      'oci',
      '--oci-runtime',
      AGENT_RUNTIME,
      '--bridge',
      AGENT_NET.bridge,
      '--subnet',
      AGENT_NET.subnet,
      // Enough offered CPU for all the tasks to fit on the one host.
      '--cpu',
      String(Math.ceil(CPU * TASKS) + 1),
    ],
    { env: { ...process.env, DABBA_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let buf = '';
  proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    agentOutput = (agentOutput + d).slice(-20_000);
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      onAgentLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  });
  return proc;
}

async function until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
  if (check()) return;
  await new Promise<void>((resolveWait, reject) => {
    const timer = setTimeout(() => {
      changed.delete(fn);
      reject(new Error(`timed out waiting for ${what}`));
    }, timeoutMs);
    const fn = (): void => {
      if (!check()) return;
      clearTimeout(timer);
      changed.delete(fn);
      resolveWait();
    };
    changed.add(fn);
  });
}

// ---- dabba: deploy a job of n tasks ----

interface Deployed {
  /** Per task: times (ms after the PUT was sent) of each step. */
  tasks: {
    id: string;
    putAnswered: number;
    assigned: number;
    agentSaw: number;
    runtimeCalled: number;
    runtimeReturned: number;
    runtime: { prepare: number; create: number; start: number; total: number } | undefined;
    statusStored: number;
    answering: number;
  }[];
  allRunning: number;
  allAnswering: number;
}

async function deploy(name: string, n: number): Promise<Deployed> {
  const v = validateJob({
    name,
    replicas: n,
    task: {
      image: 'hello',
      command: ['httpd', '-f', '-p', String(PORT), '-h', '/www'],
      resources: { cpu: CPU, memory: '32Mi', pids: 32 },
      ports: [{ name: 'http', port: PORT }],
      // httpd as pid 1 ignores SIGTERM: do not wait out the default grace period at each undeploy.
      stopGracePeriod: '100ms',
    },
  });
  if (!v.ok) throw new Error(JSON.stringify(v.issues));
  const jobIds = (): string[] => [...runningAt.keys()].filter((id) => statusOf.get(id)?.job === name);
  // Each task's port is tried from the moment its status says running.
  const polls = new Map<string, Promise<number>>();
  const poll = (): void => {
    for (const id of jobIds()) {
      if (polls.has(id)) continue;
      const s = statusOf.get(id);
      polls.set(id, answering(s?.address ?? '', s?.ports?.['http'] ?? PORT, n === 1 ? 1 : 5));
    }
  };
  changed.add(poll);
  const t0 = now();
  deployed.add(name);
  await client.putJob(name, toUserForm(v.spec));
  const putAnswered = now() - t0;
  await until(`${n} tasks of ${name} running`, () => jobIds().length >= n).catch((e: unknown) => {
    changed.delete(poll);
    const states = [...statusOf.values()].filter((st) => st.job === name);
    throw new Error(
      `${String(e)}; statuses: ${JSON.stringify(states.map((st) => [st.state, st.reason, st.message]))}\n` +
        agentOutput.slice(-3000),
    );
  });
  changed.delete(poll);
  poll();
  const ids = jobIds();
  const allRunning = Math.max(...ids.map((id) => (runningAt.get(id) ?? NaN) - t0));
  const answered = await Promise.all(ids.map((id) => polls.get(id) ?? Promise.resolve(NaN)));
  const allAnswering = Math.max(...answered) - t0;
  // The agent's log lines may trail a little behind.
  await until('the agent log', () => ids.every((id) => agentLog.get(id)?.has('status sent')), 5000).catch(
    () => undefined,
  );
  const tasks = ids.map((id, i) => {
    const log = agentLog.get(id);
    const at = (msg: string): number => (log?.get(msg)?.at ?? NaN) - t0;
    const ret = log?.get('runtime start returned');
    const rt = log?.get('task started')?.ms;
    return {
      id,
      putAnswered,
      assigned: (assignedAt.get(id) ?? NaN) - t0,
      agentSaw: at('assignment seen'),
      runtimeCalled: at('runtime start returned'),
      runtimeReturned: (ret?.at ?? NaN) + (typeof ret?.ms === 'number' ? ret.ms : NaN) - t0,
      runtime: typeof rt === 'object' ? rt : undefined,
      statusStored: (runningAt.get(id) ?? NaN) - t0,
      answering: (answered[i] ?? NaN) - t0,
    };
  });
  return { tasks, allRunning, allAnswering };
}

async function undeploy(name: string): Promise<void> {
  await client.stopJob(name);
  const deadline = Date.now() + 60_000;
  while ((await client.jobTasks(name)).length > 0) {
    if (Date.now() > deadline) throw new Error(`tasks of ${name} still there after 60 s`);
    await sleep(20);
  }
  deployed.delete(name);
}

// ---- raw runc run -d ----

const runcPath = (await findExecutable('runc')) ?? 'runc';
const rawRoot = join(dir, 'raw-runtime');
const layout = await detectCgroups();
const rawNet = new BridgeNetwork({
  bridge: RAW_NET.bridge,
  subnet: RAW_NET.subnet,
  ip: 'ip',
  logger: silentLogger,
});
const rawIds: string[] = [];
let rawAddr = 2;

/** A bundle like the runtime's, prepared untimed: overlay mounted, network connected, config written. */
async function rawBundle(id: string, img: ImageInfo): Promise<{ bundle: string; address: string }> {
  const b = join(dir, 'raw', id);
  await mkdir(b, { recursive: true });
  await rawImages.prepareRootfs(img, b);
  const address = `10.246.${Math.floor(rawAddr / 250)}.${(rawAddr % 250) + 2}`;
  rawAddr++;
  const net = { netns: `dbraw-${id}`, hostVeth: `dbr${id}`, address };
  await rawNet.createNamespace(net);
  await rawNet.connect(net);
  const defaults = imageDefaults(img);
  await writeFile(join(b, 'hosts'), `127.0.0.1\tlocalhost\n${address}\t${id}\n`);
  await writeFile(join(b, 'hostname'), `${id}\n`);
  const config = buildSpec({
    args: defaults.args,
    env: Object.entries({ ...defaults.env, HOSTNAME: id }).map(([k, v]) => `${k}=${v}`),
    cwd: defaults.workingDir,
    uid: 0,
    gid: 0,
    hostname: id,
    netnsPath: `/run/netns/${net.netns}`,
    cgroupsPath: `/dabba-bench/${id}`,
    resources: { cpu: CPU, memoryBytes: 32 * 1024 * 1024, pids: 32 },
    hostsFile: join(b, 'hosts'),
    hostnameFile: join(b, 'hostname'),
    cgroupVersion: layout.version,
    swapLimit: true,
    nofile: 1024,
  });
  await writeFile(join(b, 'config.json'), JSON.stringify(config));
  return { bundle: b, address };
}

/** `runc run -d`: ms until runc returns, and until the port answers, from spawn. */
function rawRun(
  id: string,
  bundle: string,
  address: string,
  everyMs = 1,
): Promise<{ running: number; answering: number }> {
  return new Promise((resolveRun, reject) => {
    const t0 = now();
    const child = spawn(runcPath, ['--root', rawRoot, 'run', '-d', '--bundle', bundle, id], {
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      const running = now() - t0;
      if (code !== 0) {
        reject(new Error(`runc run exited ${code}`));
        return;
      }
      rawIds.push(id);
      void answering(address, PORT, everyMs).then((t) => resolveRun({ running, answering: t - t0 }), reject);
    });
  });
}

function spawnOk(file: string, args: string[]): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`${file} ${args.join(' ')}: ${code}`)),
    );
  });
}

/** Raw `runc create` then `runc start` (the split the design imposes, without conmon): ms to start returned. */
async function rawCreateStart(id: string, bundle: string): Promise<number> {
  const t0 = now();
  await spawnOk(runcPath, ['--root', rawRoot, 'create', '--bundle', bundle, id]);
  rawIds.push(id);
  await spawnOk(runcPath, ['--root', rawRoot, 'start', id]);
  return now() - t0;
}

const conmonPath = (await findExecutable('conmon')) ?? 'conmon';

/**
 * The design's own floor, without anything of dabba: conmon runs `runc create` (its sync pipe gives
 * the pid), then `runc start`; ms from conmon's spawn until `runc start` returned.
 */
async function rawConmonStart(id: string, bundle: string): Promise<number> {
  const t0 = now();
  const d = join(dir, 'raw-conmon', id);
  await mkdir(d, { recursive: true });
  rawIds.push(id); // deleted in cleanupRaw whatever happens here (an unknown id is harmless)
  await new Promise<number>((resolvePid, reject) => {
    const child = spawn(
      conmonPath,
      conmonArgs({
        conmon: conmonPath,
        runtime: runcPath,
        runtimeArgs: ['--root', rawRoot],
        containerId: id,
        uuid: id,
        bundle,
        pidFile: join(d, 'pidfile'),
        conmonPidFile: join(d, 'conmon.pid'),
        exitDir: d,
        logPath: join(d, 'ctr.log'),
        socketDir: d,
      }),
      {
        cwd: bundle,
        env: { ...process.env, _OCI_SYNCPIPE: '3' },
        stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
      },
    );
    child.on('error', reject);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('conmon gave no sync message within 30 s'));
    }, 30_000);
    let text = '';
    const sync = child.stdio[3] as Readable;
    sync.setEncoding('utf8');
    const done = (): void => {
      clearTimeout(timer);
      const m = /"data"\s*:\s*(-?\d+)/.exec(text);
      const n = Number(m?.[1] ?? NaN);
      if (n > 0) resolvePid(n);
      else reject(new Error(`conmon: ${text || 'no sync message'}`));
    };
    sync.on('data', (chunk: string) => {
      text += chunk;
      if (text.includes('}')) {
        sync.removeAllListeners('end');
        done();
        sync.destroy();
      }
    });
    sync.on('end', done);
  });
  await spawnOk(runcPath, ['--root', rawRoot, 'start', id]);
  return now() - t0;
}

async function cleanupRaw(): Promise<void> {
  for (const id of rawIds.splice(0)) await runTool(runcPath, ['--root', rawRoot, 'delete', '--force', id]);
  // The raw conmons exit with their containers; one that did not (a failed create) is killed.
  for (const id of await readdir(join(dir, 'raw-conmon')).catch(() => [] as string[])) {
    const d = join(dir, 'raw-conmon', id);
    const pid = Number((await readFile(join(d, 'conmon.pid'), 'utf8').catch(() => '')).trim());
    const comm = pid > 0 ? (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() : '';
    if (comm === 'conmon') {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(d, { recursive: true, force: true });
  }
  for (const id of await readdir(join(dir, 'raw')).catch(() => [] as string[])) {
    await rawNet.teardown({ netns: `dbraw-${id}`, hostVeth: `dbr${id}` });
    await rawImages.releaseRootfs(join(dir, 'raw', id));
    await rm(join(dir, 'raw', id), { recursive: true, force: true });
  }
}

// ---- run ----

let agent: ChildProcess | undefined;
let agentExit: Promise<unknown> = Promise.resolve();
try {
  await rawNet.ensureBridge();
  agent = startAgentProcess();
  const proc = agent;
  agentExit = new Promise((r) => proc.once('exit', r));
  proc.once('exit', (code) => {
    if (!watchStop.signal.aborted) console.error(`agent exited (${code}):\n${agentOutput}`);
  });
  for (let i = 0; ; i++) {
    const hosts = await client.hosts().catch(() => []);
    if (hosts.some((h) => h.id === HOST && h.state === 'ready')) break;
    if (i > 600) throw new Error(`agent did not register:\n${agentOutput}`);
    await sleep(50);
  }

  // Warm up: unpack layers, create bridges, page in binaries.
  await deploy('warm', 1);
  await undeploy('warm');
  const w = await rawBundle('w', rawImage);
  await rawRun('w', w.bundle, w.address);
  await cleanupRaw();

  // 1 task, interleaved with the baseline.
  const one: Deployed[] = [];
  const rawOne: { running: number; answering: number }[] = [];
  const rawSplit: number[] = [];
  const rawConmon: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    // The three raw baselines in a rotating order, so none always goes first.
    const raws = [
      async (): Promise<void> => {
        const b = await rawBundle(`r${i}`, rawImage);
        rawOne.push(await rawRun(`r${i}`, b.bundle, b.address));
      },
      async (): Promise<void> => {
        const b = await rawBundle(`s${i}`, rawImage);
        rawSplit.push(await rawCreateStart(`s${i}`, b.bundle));
      },
      async (): Promise<void> => {
        const b = await rawBundle(`c${i}`, rawImage);
        rawConmon.push(await rawConmonStart(`c${i}`, b.bundle));
      },
    ];
    for (let k = 0; k < raws.length; k++) {
      await raws[(i + k) % raws.length]?.();
      await cleanupRaw();
    }
    one.push(await deploy(`one-${i}`, 1));
    await undeploy(`one-${i}`);
  }

  // Agent memory with no tasks (after the churn above settled).
  await sleep(2000);
  const agentIdle = await agentMemory(proc);

  // N at once.
  const bundles = await Promise.all(Array.from({ length: TASKS }, (_, i) => rawBundle(`m${i}`, rawImage)));
  let t0 = now();
  const rawMany = await Promise.all(bundles.map((b, i) => rawRun(`m${i}`, b.bundle, b.address, 5)));
  const rawManyRunning = Math.max(...rawMany.map((r) => r.running));
  const rawManyAnswering = now() - t0;
  await cleanupRaw();
  const many = await deploy('many', TASKS);

  // Memory with N running.
  await sleep(2000);
  const agentBusy = await agentMemory(proc);
  const conmons: { rss: number; pss: number }[] = [];
  for (const t of many.tasks) {
    const pidText = await readFile(
      join(agentDir, 'runtime', 'oci', 'tasks', t.id, 'conmon.pid'),
      'utf8',
    ).catch(() => '');
    const pid = Number(pidText.trim());
    if (pid > 0) conmons.push(await memoryOf(pid));
  }
  await undeploy('many');
  await sleep(2000);
  const agentAfter = await agentMemory(proc);
  t0 = 0;

  // ---- report ----
  const m1 = (pick: (d: Deployed) => number): number => median(one.map(pick));
  const first = (d: Deployed): Deployed['tasks'][number] => d.tasks[0] as Deployed['tasks'][number];
  const run1 = m1((d) => first(d).statusStored);
  const ans1 = m1((d) => first(d).answering);
  const rawRun1 = median(rawOne.map((r) => r.running));
  const rawAns1 = median(rawOne.map((r) => r.answering));
  console.log(
    `deploy -> running, oci runtime (${detected.reason}; the agent runs ${AGENT_RUNTIME}), one host, builtin image hello (httpd :8080)`,
  );
  console.log('');
  console.log(
    '| | dabba (PUT -> status running / port answers) | raw `runc run -d` (-> runc returned / port answers) | ratio |',
  );
  console.log('|---|---:|---:|---:|');
  console.log(
    `| 1 task, running, median of ${ROUNDS} | ${f(run1)} ms | ${f(rawRun1)} ms | ${(run1 / rawRun1).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task, answering, median of ${ROUNDS} | ${f(ans1)} ms | ${f(rawAns1)} ms | ${(ans1 / rawAns1).toFixed(2)}x |`,
  );
  const split1 = median(rawSplit);
  const conmon1 = median(rawConmon);
  console.log(
    `| 1 task: raw \`runc create\` + \`runc start\` (the split alone), median | | ${f(split1)} ms | ${(split1 / rawRun1).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task: raw conmon (\`runc create\`) + \`runc start\` (the design's floor), median | | ${f(conmon1)} ms | ${(conmon1 / rawRun1).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task: dabba against that floor | ${f(run1)} ms | ${f(conmon1)} ms | ${(run1 / conmon1).toFixed(2)}x |`,
  );
  console.log(
    `| 1 task, running, p90 | ${f(
      pct(
        one.map((d) => first(d).statusStored),
        90,
      ),
    )} ms | ${f(
      pct(
        rawOne.map((r) => r.running),
        90,
      ),
    )} ms | |`,
  );
  console.log(
    `| ${TASKS} tasks, all running | ${f(many.allRunning)} ms | ${f(rawManyRunning)} ms | ${(many.allRunning / rawManyRunning).toFixed(2)}x |`,
  );
  console.log(
    `| ${TASKS} tasks, all answering | ${f(many.allAnswering)} ms | ${f(rawManyAnswering)} ms | ${(many.allAnswering / rawManyAnswering).toFixed(2)}x |`,
  );
  console.log('');
  console.log(
    'Where the time goes (ms after the PUT was sent; 1 task: medians; N tasks: p50 / max over the tasks):',
  );
  console.log('');
  const steps: [string, (t: Deployed['tasks'][number]) => number][] = [
    ['PUT answered (job version stored)', (t) => t.putAnswered],
    ['assignment stored (scheduler)', (t) => t.assigned],
    ['agent sees the assignment (watch)', (t) => t.agentSaw],
    ['runtime.start called', (t) => t.runtimeCalled],
    ['runtime.start returned (process running)', (t) => t.runtimeReturned],
    ['status `running` stored (agent report)', (t) => t.statusStored],
    ['port answers', (t) => t.answering],
  ];
  console.log(`| step | 1 task | ${TASKS} tasks p50 | ${TASKS} tasks max |`);
  console.log('|---|---:|---:|---:|');
  for (const [label, pick] of steps) {
    const xs = many.tasks.map(pick);
    console.log(`| ${label} | ${f(m1((d) => pick(first(d))))} | ${f(median(xs))} | ${f(maxOf(xs))} |`);
  }
  const rtPart = (k: 'prepare' | 'create' | 'start' | 'total', d: Deployed['tasks']): number[] =>
    d.map((t) => t.runtime?.[k] ?? NaN);
  console.log('');
  console.log(`| inside runtime.start (ms) | 1 task | ${TASKS} tasks p50 | ${TASKS} tasks max |`);
  console.log('|---|---:|---:|---:|');
  for (const k of ['prepare', 'create', 'start', 'total'] as const) {
    const label = {
      prepare: 'prepare (address, overlay, netns, config.json)',
      create: 'conmon + `runc create`',
      start: '`runc start` + record',
      total: 'total',
    }[k];
    const xs = rtPart(k, many.tasks);
    console.log(
      `| ${label} | ${f(median(one.flatMap((d) => rtPart(k, d.tasks))))} | ${f(median(xs))} | ${f(maxOf(xs))} |`,
    );
  }
  const missing = many.tasks.filter((t) => t.runtime === undefined).length;
  if (missing > 0)
    console.log(`(${missing} of ${TASKS} tasks: no split, their agent log line came too late)`);
  console.log('');
  const avg = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const KiB = 1024;
  console.log(
    `conmon per task (${conmons.length} running): RSS ${(avg(conmons.map((c) => c.rss)) / KiB).toFixed(0)} KiB, ` +
      `PSS ${(avg(conmons.map((c) => c.pss)) / KiB).toFixed(0)} KiB`,
  );
  const MiB = KiB * KiB;
  const perTask = (a: number, b: number): string => `${((b - a) / TASKS / KiB).toFixed(0)} KiB`;
  console.log(
    `agent (after full GCs), 0 tasks -> ${TASKS} running -> 0 again: ` +
      `RSS ${(agentIdle.rss / MiB).toFixed(1)} -> ${(agentBusy.rss / MiB).toFixed(1)} -> ${(agentAfter.rss / MiB).toFixed(1)} MiB, ` +
      `JS heap used ${(agentIdle.heapUsed / MiB).toFixed(1)} -> ${(agentBusy.heapUsed / MiB).toFixed(1)} -> ${(agentAfter.heapUsed / MiB).toFixed(1)} MiB; ` +
      `per task: RSS ${perTask(agentIdle.rss, agentBusy.rss)} (vs after: ${perTask(agentAfter.rss, agentBusy.rss)}), ` +
      `heap ${perTask(agentIdle.heapUsed, agentBusy.heapUsed)} (vs after: ${perTask(agentAfter.heapUsed, agentBusy.heapUsed)})`,
  );
} finally {
  for (const name of [...deployed]) await undeploy(name).catch(() => undefined);
  watchStop.abort();
  if (agent && agent.exitCode === null) {
    agent.kill('SIGTERM');
    await Promise.race([agentExit, sleep(15_000)]);
    if (agent.exitCode === null) agent.kill('SIGKILL');
  }
  await watching;
  await cleanupRaw().catch((e: unknown) => console.error('raw cleanup:', e));
  await server.close();
  await store.close();
  await rawNet.destroyBridge();
  await new BridgeNetwork({
    bridge: AGENT_NET.bridge,
    subnet: parseSubnet(AGENT_NET.subnet),
    ip: 'ip',
    nft: 'nft',
    logger: silentLogger,
  }).destroyBridge();
  await removeBenchLeftovers(dir);
}
