/**
 * One HAProxy per host, run and supervised by the agent. It runs in its own session (master-worker
 * mode, `-W`), so it outlives the agent like a task does; a new agent re-adopts it by its pid file.
 * The structure (frontends, backends, policies) is a config file checked with `haproxy -c` before
 * it is used, and changes by a reload (SIGUSR2: the master keeps its pid); endpoints change through
 * the runtime API (`add server`, `del server`, `set server ... addr`), never by a reload.
 */
import { spawn } from 'node:child_process';
import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DabbaError } from '../../errors/index.ts';
import { sleep, type Logger } from '../../lib/index.ts';
import type { ProxyLayout, ProxyServer } from './plan.ts';
import { PROXY_LOG_MAX_BYTES, rotateIfLarge } from './access-log.ts';
import { renderConfig, serverParams, structureDigest, structureLine } from './render.ts';
import { runtimeCommand, serversState } from './runtime-api.ts';

const run = promisify(execFile);

export interface ProxyOptions {
  /** Where the config, pid file, socket and log live (e.g. DATA_DIR/mesh). */
  dir: string;
  logger: Logger;
  /** The haproxy binary (default: haproxy on PATH). */
  binary?: string;
  /** Its log (`haproxy.log`) is rotated past this size (default PROXY_LOG_MAX_BYTES). */
  logMaxBytes?: number;
}

export class ProxySupervisor {
  readonly #o: ProxyOptions;
  #layout: ProxyLayout | undefined;
  #servers = new Map<string, ProxyServer[]>();
  #pid: number | undefined;
  /** Restarts after the proxy was found dead (for tests and status). */
  restarts = 0;

  constructor(o: ProxyOptions) {
    this.#o = o;
  }

  get configPath(): string {
    return join(this.#o.dir, 'haproxy.cfg');
  }
  get socket(): string {
    return join(this.#o.dir, 'admin.sock');
  }
  get logPath(): string {
    return join(this.#o.dir, 'haproxy.log');
  }
  get pidFile(): string {
    return join(this.#o.dir, 'haproxy.pid');
  }
  /** The master's pid (unchanged by reloads). */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Checks a config with `haproxy -c`; throws DABBA_E_VALIDATION with HAProxy's own words. */
  async validate(text: string): Promise<void> {
    const candidate = join(this.#o.dir, 'haproxy.cfg.new');
    await writeFile(candidate, text);
    try {
      await run(this.#o.binary ?? 'haproxy', ['-c', '-q', '-f', candidate]);
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      throw new DabbaError('DABBA_E_VALIDATION', 'the rendered HAProxy config is invalid', {
        details: { haproxy: `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().slice(0, 4000) },
        cause: e,
      });
    }
  }

  /**
   * Brings the proxy to `layout`: adopts a running one (by pid file), else starts one; reloads when
   * the structure changed. A config written for a start or reload lists `servers` (default: those of
   * the last sync), so the new worker serves at once; then the servers are synced again.
   */
  async apply(layout: ProxyLayout, servers?: Map<string, ProxyServer[]>): Promise<void> {
    if (servers !== undefined) this.#servers = servers;
    await mkdir(this.#o.dir, { recursive: true });
    const digest = structureDigest(layout, { socket: this.socket });
    const current = await readFile(this.configPath, 'utf8').catch(() => undefined);
    if (this.#pid === undefined) this.#pid = await this.#adoptable();
    const changed = current?.split('\n').includes(structureLine(digest)) !== true;
    // The file lists the servers known now, so the worker it starts serves from its first request.
    if (changed || this.#pid === undefined) {
      await this.validate(renderConfig(layout, { socket: this.socket }, this.#servers));
      await rename(join(this.#o.dir, 'haproxy.cfg.new'), this.configPath);
    }
    this.#layout = layout;
    if (this.#pid === undefined) await this.#start();
    else if (changed) await this.#reload();
    await this.sync(this.#servers);
  }

  /** A live HAProxy of ours from the pid file (one running this config), or undefined. */
  async #adoptable(): Promise<number | undefined> {
    const text = await readFile(this.pidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim().split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmdline = await readFile(`/proc/${String(pid)}/cmdline`, 'utf8').catch(() => '');
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8').catch(() => '');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || !cmdline.split('\0').includes(this.configPath)) return undefined;
    this.#o.logger.info({ pid }, 'mesh proxy adopted');
    return pid;
  }

  async #start(): Promise<void> {
    const log = openSync(this.logPath, 'a');
    try {
      const child = spawn(this.#o.binary ?? 'haproxy', ['-W', '-f', this.configPath, '-p', this.pidFile], {
        detached: true,
        stdio: ['ignore', log, log],
      });
      child.unref();
      if (child.pid === undefined) throw new DabbaError('DABBA_E_INTERNAL', 'haproxy did not start');
      this.#pid = child.pid;
    } finally {
      closeSync(log);
    }
    await this.#waitReady();
    this.#o.logger.info({ pid: this.#pid }, 'mesh proxy started');
  }

  async #reload(): Promise<void> {
    if (this.#pid === undefined) return;
    const before = await runtimeCommand(this.socket, 'show info').catch(() => '');
    const oldWorker = /^Pid: (\d+)/m.exec(before)?.[1];
    process.kill(this.#pid, 'SIGUSR2');
    // The socket answers from the new worker once it is up.
    for (let i = 0; i < 100; i++) {
      const info = await runtimeCommand(this.socket, 'show info').catch(() => '');
      const worker = /^Pid: (\d+)/m.exec(info)?.[1];
      if (worker !== undefined && worker !== oldWorker) break;
      await sleep(100);
    }
    this.#o.logger.info({ pid: this.#pid }, 'mesh proxy reloaded (structure changed)');
  }

  async #waitReady(): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const info = await runtimeCommand(this.socket, 'show info').catch(() => '');
      if (/^Pid: /m.test(info)) return;
      // A proxy that exited (a port in use, say) will never answer: say why at once.
      if (!this.alive() || (await this.#zombie())) {
        throw new DabbaError('DABBA_E_INTERNAL', `haproxy exited before opening ${this.socket}`, {
          details: { log: await this.#logTail() },
        });
      }
      await sleep(100);
    }
    throw new DabbaError('DABBA_E_INTERNAL', `haproxy did not open its admin socket ${this.socket} in 30 s`, {
      details: { log: await this.#logTail() },
    });
  }

  /** The last lines HAProxy wrote (its start-up errors). */
  async #logTail(): Promise<string> {
    const text = await readFile(this.logPath, 'utf8').catch(() => '');
    return text.split('\n').slice(-12).join('\n');
  }

  /**
   * Makes each backend's servers what `servers` says, through the runtime API only: new endpoints
   * are added and enabled, changed addresses set, gone ones put in maintenance (no new requests;
   * in-flight ones finish) and deleted once idle — a later sync retries those still busy.
   */
  async sync(servers: Map<string, ProxyServer[]>): Promise<void> {
    this.#servers = servers;
    const layout = this.#layout;
    if (layout === undefined || this.#pid === undefined) return;
    const backends = [
      ...layout.routes.map((r) => r.backend),
      ...(layout.inbound?.services.map((s) => s.backend) ?? []),
    ];
    for (const backend of backends) {
      const want = new Map((servers.get(backend) ?? []).map((s) => [s.name, s]));
      const have = await serversState(this.socket, backend);
      for (const h of have) {
        const w = want.get(h.name);
        if (w === undefined) {
          await this.#cmd(`disable server ${backend}/${h.name}`);
          const out = await runtimeCommand(this.socket, `del server ${backend}/${h.name}`);
          if (!/deleted/i.test(out))
            this.#o.logger.debug({ server: h.name, out }, 'server busy; deleted later');
          continue;
        }
        if (w.address !== h.address || w.port !== h.port)
          await this.#cmd(`set server ${backend}/${h.name} addr ${w.address} port ${String(w.port)}`);
        if (w.weight !== undefined && w.weight !== h.weight)
          await this.#cmd(`set server ${backend}/${h.name} weight ${String(w.weight)}`);
        // Wanted again while it was still being drained (a host's peer server), or never enabled.
        if ((h.adminState & 0x01) !== 0) await this.#cmd(`enable server ${backend}/${h.name}`);
      }
      const present = new Set(have.map((h) => h.name));
      for (const w of want.values()) {
        if (present.has(w.name)) continue;
        const params = serverParams(layout, backend, w);
        const out = await runtimeCommand(
          this.socket,
          `add server ${backend}/${w.name} ${w.address}:${String(w.port)} ${params}`,
        );
        if (!/registered/i.test(out)) {
          this.#o.logger.warn({ server: w.name, out: out.trim() }, 'add server refused');
          continue;
        }
        await this.#cmd(`enable server ${backend}/${w.name}`);
        await this.#cmd(`enable health ${backend}/${w.name}`);
      }
    }
  }

  async #cmd(command: string): Promise<void> {
    const out = (await runtimeCommand(this.socket, command)).trim();
    if (out !== '') this.#o.logger.debug({ command, out }, 'runtime API');
  }

  /** Whether the master is alive. */
  alive(): boolean {
    if (this.#pid === undefined) return false;
    try {
      process.kill(this.#pid, 0);
    } catch {
      return false;
    }
    return true;
  }

  /**
   * Restarts the proxy when it dies (its structure and servers as last applied), until `signal`
   * aborts; checks every `everyMs`. Leaves it running at the end: it outlives the agent.
   */
  async supervise(signal: AbortSignal, everyMs = 1000): Promise<void> {
    while (!signal.aborted) {
      await sleep(everyMs, signal).catch(() => undefined);
      await rotateIfLarge(this.logPath, this.#o.logMaxBytes ?? PROXY_LOG_MAX_BYTES);
      if (signal.aborted || this.#layout === undefined) continue;
      if (this.alive() && !(await this.#zombie())) continue;
      this.#o.logger.warn({ pid: this.#pid }, 'mesh proxy is gone; starting it again');
      this.#pid = undefined;
      this.restarts++;
      try {
        await this.apply(this.#layout);
      } catch (e) {
        this.#o.logger.error({ err: e }, 'mesh proxy restart failed');
      }
    }
  }

  async #zombie(): Promise<boolean> {
    const stat = await readFile(`/proc/${String(this.#pid)}/stat`, 'utf8').catch(() => '');
    return stat === '' || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  }

  /** Stops the proxy (tests, and a host leaving the mesh). */
  async stop(): Promise<void> {
    const pid = this.#pid;
    this.#pid = undefined;
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      return;
    }
    for (let i = 0; i < 50; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      if (await this.#zombieOf(pid)) return;
      await sleep(100);
    }
    process.kill(pid, 'SIGKILL');
  }

  async #zombieOf(pid: number): Promise<boolean> {
    const stat = await readFile(`/proc/${String(pid)}/stat`, 'utf8').catch(() => '');
    return stat === '' || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  }
}
