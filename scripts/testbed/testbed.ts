/**
 * A fleet on one machine: a `dabba server` on a bridge and N hosts, each a network namespace with
 * its own address and its own `dabba agent` (process runtime). See docs/testbed.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'undici';
import { dirname, join } from 'node:path';
import type { HostView, JobView } from '../../src/model/index.ts';
import { cli as runCli } from '../../test/helpers/dev-cluster.ts';
import { SLOT_PREFIX_LENGTH, hostPlan, slotPlan, type SlotPlan } from './address-plan.ts';
import { writeState, type HostState, type TestbedState } from './state.ts';
import { ip, isLogWriter, netSysctl, netnsPids, processStart, type RunResult } from './system.ts';
import { teardownSlot } from './teardown.ts';
import { DABBA, type CliOptions, type TestbedHost } from './options.ts';
import { live } from './live.ts';
import { exited, fileSize, tail, waitForLine } from './child-output.ts';

export class Testbed {
  readonly slot: number;
  readonly plan: SlotPlan;
  readonly stateDir: string;
  readonly hosts: TestbedHost[] = [];
  readonly hostTimeout: string;
  url = '';
  readonly #state: TestbedState;
  readonly #logLevel: string;
  /** Extra arguments of every `dabba agent`. */
  agentArgs: string[] = [];
  /** Extra arguments of `dabba server`. */
  serverArgs: string[] = [];
  readonly #meshPorts: number | undefined;
  /** Agents run containers, entering only their namespace's network (TestbedOptions.containers). */
  readonly containers: boolean;
  readonly #agents = new Map<number, ChildProcess>();
  #server: ChildProcess | undefined;
  #stopped = false;
  #dispatcher: Agent | undefined;

  constructor(
    slot: number,
    state: TestbedState,
    options: { hostTimeout: string; logLevel: string; meshPorts?: number; containers?: boolean },
  ) {
    this.slot = slot;
    this.plan = slotPlan(slot);
    this.stateDir = state.stateDir;
    this.#state = state;
    this.hostTimeout = options.hostTimeout;
    this.#logLevel = options.logLevel;
    this.#meshPorts = options.meshPorts;
    this.containers = options.containers === true;
  }

  /**
   * How a command runs in host i's namespace: `ip netns exec NS CMD...`, or with containers
   * `nsenter --net=/run/netns/NS CMD...` (the network only); either execs CMD (same pid).
   */
  #enter(ns: string, cmd: string[]): [string, string[]] {
    return this.containers
      ? ['nsenter', [`--net=/run/netns/${ns}`, ...cmd]]
      : ['ip', ['netns', 'exec', ns, ...cmd]];
  }

  get serverLog(): string {
    return join(this.stateDir, 'logs', 'server.log');
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * The admin token the server wrote in its data dir (once it has started): the CLI runs and API
   * reads use it, and the agents join with it.
   */
  get adminToken(): string | undefined {
    try {
      const t = readFileSync(join(this.stateDir, 'data', 'server', 'admin.token'), 'utf8').trim();
      return t === '' ? undefined : t;
    } catch {
      return undefined;
    }
  }

  /**
   * The cluster CA the server wrote in its data dir (once it has started): the server listens on
   * the bridge, beyond loopback, so it serves HTTPS; the CLI runs and the agents verify it with this.
   */
  get caFile(): string | undefined {
    const file = join(this.stateDir, 'data', 'server', 'ca.crt');
    return existsSync(file) ? file : undefined;
  }

  /** fetch options that verify the server against the cluster CA (and carry the admin token). */
  #fetchInit(signal: AbortSignal): RequestInit {
    const token = this.adminToken;
    const ca = this.caFile;
    this.#dispatcher ??=
      ca === undefined ? undefined : new Agent({ connect: { ca: readFileSync(ca, 'utf8') } });
    return {
      signal,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      // undici's fetch takes its dispatcher at run time; its types differ from @types/node's copy.
      ...((this.#dispatcher === undefined ? {} : { dispatcher: this.#dispatcher }) as RequestInit),
    };
  }

  #env(): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    const token = this.adminToken;
    if (token !== undefined) {
      env['DABBA_TOKEN'] = token;
      env['DABBA_JOIN_TOKEN'] = token;
    }
    const ca = this.caFile;
    if (ca !== undefined) env['DABBA_CA'] = ca;
    else delete env['DABBA_CA'];
    // The CLI's stored credentials: the testbed's own, never the user's.
    env['XDG_CONFIG_HOME'] = join(this.stateDir, 'config');
    // Tasks run `node`: the one running this testbed (Node 24) comes first on PATH.
    env['PATH'] = `${dirname(process.execPath)}:${process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
    env['DABBA_LOG_LEVEL'] = this.#logLevel;
    env['TMPDIR'] = join(this.stateDir, 'tmp');
    delete env['DABBA_ADDR'];
    return env;
  }

  #save(): void {
    writeState(this.#state);
  }

  // ---- setup -------------------------------------------------------------------------------

  /** The bridge with the slot's first address. */
  makeBridge(): void {
    const { bridge, gateway } = this.plan;
    ip(['link', 'add', bridge, 'type', 'bridge']);
    netSysctl(`ipv6/conf/${bridge}/disable_ipv6`, '1');
    ip(['addr', 'add', `${gateway}/${SLOT_PREFIX_LENGTH}`, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
  }

  /**
   * Stops the server (SIGTERM, then SIGKILL after 10 s); the agents keep running. startServer()
   * starts it again on the same data dir and address.
   */
  async stopServer(): Promise<void> {
    const child = this.#server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited(child, 10_000);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }

  async startServer(): Promise<void> {
    // Started again: the same port, so the agents find it where they left it.
    const port = this.url === '' ? '0' : new URL(this.url).port;
    const dataDir = join(this.stateDir, 'data', 'server');
    mkdirSync(dataDir, { recursive: true });
    const log = this.serverLog;
    const fd = openSync(log, 'a');
    const offset = fileSize(log);
    const child = spawn(
      process.execPath,
      [
        DABBA,
        'server',
        '--data-dir',
        dataDir,
        '--listen',
        `${this.plan.gateway}:${port}`,
        '--host-timeout',
        this.hostTimeout,
        ...this.serverArgs,
      ],
      { stdio: ['ignore', fd, fd], detached: true, env: this.#env() },
    );
    closeSync(fd);
    child.unref();
    this.#server = child;
    if (child.pid !== undefined) {
      const start = processStart(child.pid);
      if (start !== undefined) this.#state.server = { pid: child.pid, start };
      this.#save();
    }
    // Beyond loopback (the bridge's address) the server serves HTTPS.
    const m = await waitForLine(log, offset, /API at (https?:\/\/\S+)/, child, 'dabba server');
    this.url = m[1] ?? '';
    this.#state.serverUrl = this.url;
    this.#save();
  }

  /** Namespace, veth pair, addresses and routes of host i. */
  makeHost(index: number, labels: Record<string, string>): TestbedHost {
    const hp = hostPlan(this.slot, index);
    const host: TestbedHost = {
      id: `tb-${index}`,
      index,
      ns: hp.netns,
      veth: hp.veth,
      address: hp.address,
      rack: labels['rack'] ?? '',
      datacenter: labels['datacenter'] ?? '',
      region: labels['region'] ?? '',
      labels,
      pid: undefined,
      dataDir: join(this.stateDir, 'data', `agent-${index}`),
      logFile: join(this.stateDir, 'logs', `agent-${index}.log`),
    };
    const hs: HostState = { id: host.id, index, netns: hp.netns, veth: hp.veth, address: hp.address };
    this.#state.hosts.push(hs);
    this.#save();
    this.hosts[index] = host;
    const ns = hp.netns;
    ip(['netns', 'add', ns]);
    netSysctl('ipv6/conf/all/disable_ipv6', '1', ns);
    netSysctl('ipv6/conf/default/disable_ipv6', '1', ns);
    ip(['link', 'add', hp.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    netSysctl(`ipv6/conf/${hp.veth}/disable_ipv6`, '1');
    ip(['link', 'set', hp.veth, 'master', this.plan.bridge, 'up']);
    ip(['-n', ns, 'addr', 'add', `${hp.address}/${SLOT_PREFIX_LENGTH}`, 'dev', 'eth0']);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', ns, 'route', 'add', 'default', 'via', this.plan.gateway]);
    mkdirSync(host.dataDir, { recursive: true });
    return host;
  }

  // ---- hosts ---------------------------------------------------------------------------------

  #host(i: number): TestbedHost {
    const h = this.hosts[i];
    if (!h) throw new Error(`testbed has no host ${i} (it has ${this.hosts.length})`);
    return h;
  }

  /** Starts (or restarts, on the same data dir) the agent of host i; resolves once it has registered. */
  async startAgent(i: number): Promise<void> {
    const h = this.#host(i);
    const running = this.#agents.get(i);
    if (running && running.exitCode === null && running.signalCode === null) {
      throw new Error(`the agent of ${h.id} is running (pid ${running.pid})`);
    }
    const args = [
      process.execPath,
      DABBA,
      'agent',
      '--server',
      this.url,
      '--data-dir',
      h.dataDir,
      '--host-id',
      h.id,
      '--driver',
      this.containers ? 'oci' : 'process',
      '--advertise',
      h.address,
      '--listen',
      `${h.address}:0`,
      ...this.agentArgs,
    ];
    for (const [k, v] of Object.entries(h.labels)) args.push('--label', `${k}=${v}`);
    // Every host of the testbed shares this machine's /proc: the first records host history, the
    // others would sample the same processes again (each host's sampler reads all of them).
    if (i > 0 && !this.agentArgs.includes('--host-history')) args.push('--host-history', 'off');
    if (this.#meshPorts !== undefined) args.push('--mesh-ports', String(this.#meshPorts));
    const offset = fileSize(h.logFile);
    const fd = openSync(h.logFile, 'a');
    // `ip netns exec` (or nsenter) enters the namespace and execs node: the child's pid is the agent's.
    const [cmd, entered] = this.#enter(h.ns, args);
    const child = spawn(cmd, entered, { stdio: ['ignore', fd, fd], detached: true, env: this.#env() });
    closeSync(fd);
    child.unref();
    this.#agents.set(i, child);
    h.pid = child.pid;
    const hs = this.#state.hosts.find((x) => x.index === i);
    if (hs && child.pid !== undefined) {
      const start = processStart(child.pid);
      if (start !== undefined) hs.agent = { pid: child.pid, start };
      this.#save();
    }
    await waitForLine(h.logFile, offset, /endpoint at (https?:\/\/\S+)/, child, `dabba agent of ${h.id}`);
  }

  /** SIGKILL the agent of host i (its tasks keep running in the namespace). */
  async killAgent(i: number): Promise<void> {
    const h = this.#host(i);
    const child = this.#agents.get(i);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const done = exited(child);
    child.kill('SIGKILL');
    await done;
    h.pid = undefined;
  }

  /** Takes host i off the network: its veth's bridge end goes down. */
  cutLink(i: number): void {
    ip(['link', 'set', this.#host(i).veth, 'down']);
  }

  restoreLink(i: number): void {
    ip(['link', 'set', this.#host(i).veth, 'up']);
  }

  /** Runs a command in host i's namespace. */
  exec(i: number, cmd: string[], timeoutMs = 30_000): Promise<RunResult> {
    const h = this.#host(i);
    return new Promise((resolveRun) => {
      const [entry, args] = this.#enter(h.ns, cmd);
      const child = spawn(entry, args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: this.#env(),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', (e) => {
        clearTimeout(timer);
        resolveRun({ code: 127, stdout, stderr: stderr + e.message });
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolveRun({ code: code ?? (signal ? 128 : 1), stdout, stderr });
      });
    });
  }

  /** Pids of every process in host i's namespace (its agent and its tasks). */
  pids(i: number): number[] {
    return netnsPids(this.#host(i).ns);
  }

  /** Pids in host i's namespace other than its agent and its runtime's log writer: the task processes. */
  taskPids(i: number): number[] {
    const agent = this.#host(i).pid;
    return this.pids(i).filter((p) => p !== agent && !isLogWriter(p));
  }

  // ---- talking to the cluster ------------------------------------------------------------------

  /** Runs the real CLI (`dabba ARGS`) against this testbed's server. */
  cli(args: string[], options: CliOptions = {}): Promise<RunResult> {
    return runCli(args, {
      addr: this.url,
      env: { ...this.#env(), DABBA_LOG_LEVEL: 'warn', ...options.env },
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    });
  }

  /** GET a JSON document of the API (e.g. /v1/hosts). */
  async api<T>(path: string): Promise<T> {
    const res = await fetch(this.url + path, this.#fetchInit(AbortSignal.timeout(5000)));
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  hostViews(): Promise<HostView[]> {
    return this.api<HostView[]>('/v1/hosts');
  }

  job(name: string): Promise<JobView> {
    return this.api<JobView>(`/v1/jobs/${encodeURIComponent(name)}`);
  }

  /** Writes a job file into the state dir and returns its path. */
  writeJob(name: string, yaml: string): string {
    const dir = join(this.stateDir, 'jobs');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, yaml);
    return file;
  }

  /** Waits until the hosts (all by default) are in `state`. */
  async waitHosts(
    state: HostView['state'],
    ids: string[] = this.hosts.map((h) => h.id),
    timeoutMs = 30_000,
  ): Promise<HostView[]> {
    const until = Date.now() + timeoutMs;
    let last: HostView[] = [];
    for (;;) {
      try {
        last = await this.hostViews();
        if (ids.every((id) => last.find((h) => h.id === id)?.state === state)) return last;
      } catch {
        // server busy or restarting: try again
      }
      if (Date.now() > until) {
        const seen = last.map((h) => `${h.id}=${h.state}`).join(', ') || 'none';
        throw new Error(`hosts ${ids.join(', ')} not ${state} within ${timeoutMs} ms (seen: ${seen})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The last lines of the server's and every agent's log (for failure messages). */
  logs(lines = 30): string {
    const parts = [`--- server (${this.serverLog})\n${tail(this.serverLog, lines)}`];
    for (const h of this.hosts) parts.push(`--- ${h.id} (${h.logFile})\n${tail(h.logFile, lines)}`);
    return parts.join('\n');
  }

  // ---- teardown ------------------------------------------------------------------------------

  /** Kills every process the testbed started and removes its namespaces, links and files. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    const children = [this.#server, ...this.#agents.values()];
    for (const c of children) if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map((c) => exited(c)));
    await this.#dispatcher?.close().catch(() => undefined);
    this.stopSync();
  }

  /** The same as stop(), synchronously (for exit and signal handlers). */
  stopSync(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    live.delete(this);
    teardownSlot(this.slot, this.#state);
    for (const h of this.hosts) h.pid = undefined;
  }
}
