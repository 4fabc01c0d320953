/**
 * Dabba's side of bench/oci-deploy.ts: the real server (`startServer`, SQLite store, in this
 * process) and one real agent per OCI runtime (`dabba agent --driver oci`, separate processes, so
 * their memory is their own) on one machine, each a host of its own; a job is pinned to one agent
 * by `host.id`. What the store and the agents say is recorded with times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { DabbaClient } from '../../src/client/index.ts';
import { ImageStore, createBuiltinImage } from '../../src/image/index.ts';
import { silentLogger, sleep } from '../../src/lib/index.ts';
import { keys, type TaskStatus } from '../../src/model/index.ts';
import { toUserForm, validateJob } from '../../src/model/files.ts';
import { BridgeNetwork, parseSubnet } from '../../src/runtime/oci/index.ts';
import { startServer } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { CPU, PORT } from './raw.ts';
import { answering, now } from './util.ts';

const DABBA = resolve(import.meta.dirname, '..', '..', 'src', 'bin', 'dabba.ts');
type RuntimeMs = {
  prepare: number;
  create: number;
  start: number;
  total: number;
  /** When each part of prepare was done (ms after it began). */
  rootfs?: number;
  netns?: number;
  address?: number;
};

interface AgentEvent {
  at: number;
  ms?: number | RuntimeMs;
  /** `task started`: when each step of the container's start was done (ms after start began). */
  steps?: Record<string, number>;
}

export interface Agent {
  runtime: 'runc' | 'crun';
  /** What the report calls it: the runtime, or e.g. crun-btrfs. */
  name: string;
  host: string;
  dir: string;
  proc: ChildProcess;
  net: { bridge: string; subnet: string };
  output: string;
  exited: Promise<unknown>;
}

export interface DeployedTask {
  id: string;
  putAnswered: number;
  assigned: number;
  agentSaw: number;
  runtimeCalled: number;
  runtimeReturned: number;
  runtime: RuntimeMs | undefined;
  /** When each step inside runtime.start was done (ms after it began; start-trace.ts). */
  steps: Record<string, number>;
  statusStored: number;
  answering: number;
}

export interface Deployed {
  /** Per task: times (ms after the PUT was sent) of each step. */
  tasks: DeployedTask[];
  allRunning: number;
  allAnswering: number;
}

const GC_HOOK = (file: string): string => `import { writeFileSync } from 'node:fs';
process.on('SIGUSR2', () => {
  // Several full collections: V8 frees some caches (e.g. old bytecode) only after a few.
  for (let i = 0; i < 6; i++) globalThis.gc();
  writeFileSync(${JSON.stringify(file)}, JSON.stringify(process.memoryUsage()));
});`;

export class BenchCluster {
  readonly dir: string;
  readonly agents: Agent[] = [];
  private server!: Awaited<ReturnType<typeof startServer>>;
  private store!: SqliteStore;
  private client!: DabbaClient;
  private readonly watchStop = new AbortController();
  private watching: Promise<unknown> = Promise.resolve();
  /** Jobs deployed and not yet stopped: stopped in the end whatever happens. */
  private readonly deployed = new Set<string>();
  private readonly assignedAt = new Map<string, number>();
  private readonly runningAt = new Map<string, number>();
  private readonly statusOf = new Map<string, TaskStatus>();
  private readonly changed = new Set<() => void>();
  /** task id -> message -> the agent's log entry (debug level). */
  private readonly agentLog = new Map<string, Map<string, AgentEvent>>();

  constructor(dir: string) {
    this.dir = dir;
  }

  async start(): Promise<void> {
    const images = await ImageStore.open(join(this.dir, 'server-images'));
    await createBuiltinImage(images, 'hello');
    this.store = await SqliteStore.open(join(this.dir, 'store.db'));
    this.server = await startServer({
      store: this.store,
      storeName: 'sqlite',
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      images,
    });
    this.client = new DabbaClient({ token: this.server.adminToken ?? '', addr: this.server.url });
    this.watching = Promise.allSettled([this.watchAssignments(), this.watchStatuses()]);
  }

  private onChange(): void {
    for (const fn of this.changed) fn();
  }

  private async watchAssignments(): Promise<void> {
    for await (const batch of this.store.watch(keys.hostAssignmentsPrefix('').slice(0, -1), {
      signal: this.watchStop.signal,
    })) {
      const t = now();
      for (const e of batch) {
        const id = e.kv.key.split('/').pop() ?? '';
        if (e.type === 'put' && !this.assignedAt.has(id)) this.assignedAt.set(id, t);
      }
      this.onChange();
    }
  }

  private async watchStatuses(): Promise<void> {
    for await (const batch of this.store.watch(keys.statusPrefix, { signal: this.watchStop.signal })) {
      const t = now();
      for (const e of batch) {
        if (e.type !== 'put') continue;
        const s = JSON.parse(e.kv.value) as TaskStatus;
        this.statusOf.set(s.id, s);
        if (s.state === 'running' && !this.runningAt.has(s.id)) this.runningAt.set(s.id, t);
      }
      this.onChange();
    }
  }

  private onAgentLine(line: string): void {
    let e: {
      msg?: string;
      task?: string;
      taskId?: string;
      at?: number;
      time?: number;
      ms?: AgentEvent['ms'];
      steps?: AgentEvent['steps'];
    };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      return;
    }
    const id = e.task ?? e.taskId;
    if (!id || !e.msg) return;
    let m = this.agentLog.get(id);
    if (!m) this.agentLog.set(id, (m = new Map<string, AgentEvent>()));
    if (!m.has(e.msg))
      m.set(e.msg, {
        at: e.at ?? e.time ?? NaN,
        ...(e.ms !== undefined ? { ms: e.ms } : {}),
        ...(e.steps !== undefined ? { steps: e.steps } : {}),
      });
  }

  /** Starts an agent on `runtime` (with the image already in its store: no pull is timed). */
  async addAgent(
    runtime: 'runc' | 'crun',
    tasks: number,
    o: { name?: string; dataDir?: string } = {},
  ): Promise<Agent> {
    const n = this.agents.length;
    const name = o.name ?? runtime;
    const host = `ocibench-${name}`;
    const dir = o.dataDir ?? join(this.dir, `agent-${name}`);
    const net = { bridge: `dbdep${n}`, subnet: `10.${240 + n}.0.0/16` };
    await createBuiltinImage(await ImageStore.open(join(dir, 'images')), 'hello');
    const memoryFile = join(dir, 'memory.json');
    const proc = spawn(
      process.execPath,
      [
        // On SIGUSR2 the agent collects garbage and writes process.memoryUsage() to a file.
        '--expose-gc',
        // V8 otherwise drops unused bytecode after a while (4-5 MB here), whenever that happens.
        '--no-flush-bytecode',
        '--import',
        `data:text/javascript,${encodeURIComponent(GC_HOOK(memoryFile))}`,
        DABBA,
        'agent',
        ...['--join-token', this.server.adminToken ?? '', '--server', this.server.url, '--data-dir', dir],
        ...['--host-id', host, '--driver', 'oci', '--oci-runtime', runtime],
        ...['--bridge', net.bridge, '--subnet', net.subnet],
        // Enough offered CPU for all the tasks to fit on the one host.
        ...['--cpu', String(Math.ceil(CPU * tasks) + 1)],
      ],
      { env: { ...process.env, DABBA_LOG_LEVEL: 'debug' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const agent: Agent = {
      runtime,
      name,
      host,
      dir,
      proc,
      net,
      output: '',
      exited: new Promise((r) => proc.once('exit', r)),
    };
    this.agents.push(agent);
    let buf = '';
    proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      agent.output = (agent.output + d).slice(-20_000);
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        this.onAgentLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    proc.once('exit', (code) => {
      if (!this.watchStop.signal.aborted) console.error(`agent ${host} exited (${code}):\n${agent.output}`);
    });
    for (let i = 0; ; i++) {
      const hosts = await this.client.hosts().catch(() => []);
      if (hosts.some((h) => h.id === host && h.state === 'ready')) break;
      if (i > 600) throw new Error(`agent ${host} did not register:\n${agent.output}`);
      await sleep(50);
    }
    return agent;
  }

  private until(what: string, check: () => boolean, timeoutMs = 60_000): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolveWait, reject) => {
      const timer = setTimeout(() => {
        this.changed.delete(fn);
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const fn = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.changed.delete(fn);
        resolveWait();
      };
      this.changed.add(fn);
    });
  }

  /** Deploys a job of `n` tasks of `hello` (httpd :8080) on `agent`'s host; times every step. */
  async deploy(agent: Agent, name: string, n: number): Promise<Deployed> {
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
      placement: { constraints: [{ attribute: 'host.id', equals: agent.host }] },
    });
    if (!v.ok) throw new Error(JSON.stringify(v.issues));
    const jobIds = (): string[] =>
      [...this.runningAt.keys()].filter((id) => this.statusOf.get(id)?.job === name);
    // Each task's port is tried from the moment its status says running.
    const polls = new Map<string, Promise<number>>();
    const poll = (): void => {
      for (const id of jobIds()) {
        if (polls.has(id)) continue;
        const s = this.statusOf.get(id);
        polls.set(id, answering(s?.address ?? '', s?.ports?.['http'] ?? PORT, n === 1 ? 1 : 5));
      }
    };
    this.changed.add(poll);
    const t0 = now();
    this.deployed.add(name);
    await this.client.putJob(name, toUserForm(v.spec));
    const putAnswered = now() - t0;
    await this.until(`${n} tasks of ${name} running`, () => jobIds().length >= n).catch((e: unknown) => {
      this.changed.delete(poll);
      const states = [...this.statusOf.values()].filter((st) => st.job === name);
      throw new Error(
        `${String(e)}; statuses: ${JSON.stringify(states.map((st) => [st.state, st.reason, st.message]))}\n` +
          agent.output.slice(-3000),
      );
    });
    this.changed.delete(poll);
    poll();
    const ids = jobIds();
    const allRunning = Math.max(...ids.map((id) => (this.runningAt.get(id) ?? NaN) - t0));
    const answered = await Promise.all(ids.map((id) => polls.get(id) ?? Promise.resolve(NaN)));
    // The agent's log lines may trail a little behind.
    await this.until(
      'the agent log',
      () => ids.every((id) => this.agentLog.get(id)?.has('status sent')),
      5000,
    ).catch(() => undefined);
    const tasks = ids.map((id, i): DeployedTask => {
      const log = this.agentLog.get(id);
      const at = (msg: string): number => (log?.get(msg)?.at ?? NaN) - t0;
      const ret = log?.get('runtime start returned');
      const rt = log?.get('task started')?.ms;
      return {
        id,
        putAnswered,
        assigned: (this.assignedAt.get(id) ?? NaN) - t0,
        agentSaw: at('assignment seen'),
        runtimeCalled: at('runtime start returned'),
        runtimeReturned: (ret?.at ?? NaN) + (typeof ret?.ms === 'number' ? ret.ms : NaN) - t0,
        runtime: typeof rt === 'object' ? rt : undefined,
        steps: log?.get('task started')?.steps ?? {},
        statusStored: (this.runningAt.get(id) ?? NaN) - t0,
        answering: (answered[i] ?? NaN) - t0,
      };
    });
    return { tasks, allRunning, allAnswering: Math.max(...answered) - t0 };
  }

  async undeploy(name: string): Promise<void> {
    await this.client.stopJob(name);
    const deadline = Date.now() + 60_000;
    while ((await this.client.jobTasks(name)).length > 0) {
      if (Date.now() > deadline) throw new Error(`tasks of ${name} still there after 60 s`);
      await sleep(20);
    }
    this.deployed.delete(name);
  }

  /** The agent's memory right after a full garbage collection. */
  async agentMemory(agent: Agent): Promise<NodeJS.MemoryUsage> {
    const file = join(agent.dir, 'memory.json');
    await rm(file, { force: true });
    agent.proc.kill('SIGUSR2');
    for (let i = 0; i < 200; i++) {
      const text = await readFile(file, 'utf8').catch(() => '');
      if (text !== '') return JSON.parse(text) as NodeJS.MemoryUsage;
      await sleep(10);
    }
    throw new Error('the agent did not report its memory');
  }

  /** Stops the jobs left, the agents, the server; deletes the agents' bridges. */
  async close(): Promise<void> {
    for (const name of [...this.deployed]) await this.undeploy(name).catch(() => undefined);
    this.watchStop.abort();
    for (const a of this.agents) {
      if (a.proc.exitCode !== null) continue;
      a.proc.kill('SIGTERM');
      await Promise.race([a.exited, sleep(15_000)]);
      if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    }
    await this.watching;
    await this.server.close();
    await this.store.close();
    for (const a of this.agents) {
      await new BridgeNetwork({
        bridge: a.net.bridge,
        subnet: parseSubnet(a.net.subnet),
        ip: 'ip',
        nft: 'nft',
        logger: silentLogger,
      }).destroyBridge();
    }
  }
}
