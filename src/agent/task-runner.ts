/**
 * One task on this host, from assignment to removal: start it through the runtime, watch it exit,
 * restart it by its policy with exponential backoff, run its health probes, report its status.
 *
 * Once stop() or detach() is called the runner never calls runtime.start again and reports nothing
 * but stop()'s final 'stopped': every step of the life checks the stop signal after each await, and
 * the only awaits it does not cut short are runtime calls already in flight (a start, the stop of a
 * liveness restart), which stop() waits for before it stops what they left running.
 */
import { DabbaError, messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { backoffDelay, sleep, within } from '../lib/index.ts';
import type { LastExit, ProbeSpec, Task, TaskState, TaskStatus } from '../model/index.ts';
import type { ExitStatus, Runtime, TaskHandle } from '../runtime/index.ts';
import { ProbeLoop, runProbe } from './health/index.ts';
import type { HostConfigs, PreparedConfigs } from '../configdist/host/index.ts';
import type { StatusReporter } from './status-reporter.ts';
import { describeExit } from './task-exit.ts';
import { unlessAborted } from './unless-aborted.ts';
import type { TaskStateFiles } from './task-state-file.ts';
import type { HostVolumes, PreparedVolumes } from './volumes.ts';

/** A run that lasted this long resets the crash-loop backoff. */
const STABLE_RUN_MS = 30_000;

export interface TaskRunnerDeps {
  runtime: Runtime;
  reporter: StatusReporter;
  memory: TaskStateFiles;
  clock: Clock;
  logger: Logger;
  hostId: string;
  /** Makes the task's image available before a start (oci), if the agent has an image store. */
  ensureImage?: (ref: string) => Promise<void>;
  /** Told of each run as it starts (adopted: the run began under a previous agent): log shipping. */
  onRun?: (run: { taskId: string; job: string; startedAt: number; adopted: boolean }) => void;
  /** More environment for a task at its start (the mesh's DABBA_UPSTREAM_<NAME> variables). */
  extraEnv?: (task: Task) => Record<string, string>;
  /**
   * How long a stopping task keeps running before SIGTERM (capped by its grace period): the mesh's
   * proxies take it out of their servers meanwhile, so no new request reaches a task that exits.
   */
  drainMs?: (task: Task) => number;
  /** The host's config subscriptions: a task with `configs` starts only once they are on disk. */
  configs?: HostConfigs;
  /** The host's volumes: a task with `volumes` gets them (made when missing) at each start. */
  volumes?: HostVolumes;
}

export class TaskRunner {
  readonly task: Task;
  readonly #d: TaskRunnerDeps;
  readonly #stop = new AbortController();
  #handle: TaskHandle | undefined;
  #status: TaskStatus;
  #restarts = 0;
  #crashes = 0;
  #live = true;
  #ready = false;
  #probes: ProbeLoop[] = [];
  #done: Promise<void> = Promise.resolve();
  #stopping: Promise<void> | undefined;
  #started = false;
  #livenessKill: (() => void) | undefined;
  /** Removed after an exit, to be started again: its log is the previous run's for now. */
  #betweenRuns = false;

  constructor(task: Task, deps: TaskRunnerDeps) {
    this.task = task;
    this.#d = deps;
    this.#status = {
      id: task.id,
      job: task.job,
      host: deps.hostId,
      state: 'pending',
      healthy: false,
      ready: false,
      restarts: 0,
      updatedAt: deps.clock.now(),
    };
  }

  get status(): TaskStatus {
    return this.#status;
  }

  /** The running task's handle (its address and ports), while it runs. */
  get handle(): TaskHandle | undefined {
    return this.#handle;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** Whether the task's last run is over and was removed for a restart (its log is the previous one). */
  get betweenRuns(): boolean {
    return this.#betweenRuns;
  }

  /** Begins the task's life; `adopted` is a process found running from a previous agent. */
  start(adopted?: TaskHandle): void {
    // Once only, and never after stop() or detach().
    if (this.#started || this.#stop.signal.aborted) return;
    this.#started = true;
    this.#done = this.#life(adopted).catch((e: unknown) => {
      this.#d.logger.error({ err: e, task: this.task.id }, 'task runner failed');
    });
  }

  /** Stops the task (SIGTERM, grace, SIGKILL), reports it stopped and removes its traces. */
  stop(reason = 'Stopped'): Promise<void> {
    this.#stopping ??= (async () => {
      this.#stop.abort();
      this.#stopProbes();
      const drain = Math.min(this.#d.drainMs?.(this.task) ?? 0, this.task.spec.stopGracePeriodMs);
      if (drain > 0 && this.#handle !== undefined) {
        this.#d.logger.debug({ task: this.task.id, ms: drain }, 'draining before stop');
        await sleep(drain);
      }
      await this.#d.runtime.stop(this.task.id, this.task.spec.stopGracePeriodMs).catch((e: unknown) => {
        this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'stop failed');
      });
      // The life ends at the abort, once a runtime call it has in flight (a start, a liveness
      // restart's stop) has returned; it starts nothing and reports nothing after the abort.
      await this.#done;
      // A start that was in flight when the stop came has finished by now: stop what it started.
      await this.#d.runtime.stop(this.task.id, this.task.spec.stopGracePeriodMs).catch(() => undefined);
      this.#handle = undefined;
      // Remove every trace (cgroup, mounts, network namespace) before saying "stopped": the
      // scheduler deletes the task on that word, and `dabba stop` returns when no task is left.
      await this.#d.runtime.remove(this.task.id).catch((e: unknown) => {
        this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'remove failed');
      });
      await this.#d.memory.remove(this.task.id).catch((e: unknown) => {
        this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'state file removal failed');
      });
      await this.#d.configs?.release(this.task.id).catch((e: unknown) => {
        this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'config dir removal failed');
      });
      this.#update(
        { state: 'stopped', reason, message: 'task stopped', healthy: false, ready: false },
        ['pid', 'nextRestartAt'],
        true,
      );
      await within(this.#d.reporter.flushed(), 2000);
    })();
    return this.#stopping;
  }

  /**
   * Lets go of the task without stopping it (the agent is shutting down; the next agent adopts
   * it): ends the probes, a restart backoff and the watch on the process, leaving no timer behind.
   */
  detach(): void {
    if (this.#stopping) return;
    this.#stop.abort();
    this.#stopProbes();
  }

  /** Fetches and writes the task's configs; the environment that says where they are. */
  async #prepareConfigs(): Promise<PreparedConfigs | undefined> {
    const mounts = this.task.spec.configs;
    if (mounts === undefined || mounts.length === 0 || !this.#d.configs) return undefined;
    try {
      return await this.#d.configs.prepare(this.task.id, this.task.job, mounts);
    } catch (e) {
      throw new DabbaError('DABBA_E_UNAVAILABLE', `the task's configs are not available: ${messageOf(e)}`, {
        cause: e,
        details: { reason: 'ConfigUnavailable' },
      });
    }
  }

  async #prepareVolumes(): Promise<PreparedVolumes | undefined> {
    if (!this.#d.volumes) return undefined;
    try {
      return await this.#d.volumes.prepare(this.task, this.#d.runtime.name === 'oci');
    } catch (e) {
      throw new DabbaError('DABBA_E_UNAVAILABLE', `the task's volumes could not be made: ${messageOf(e)}`, {
        cause: e,
        details: { reason: 'VolumeUnavailable' },
      });
    }
  }

  /** How a config change reaches the running task: SIGHUP to its main process, or a restart. */
  #attachConfigs(handle: TaskHandle): void {
    if (!this.task.spec.configs || !this.#d.configs) return;
    this.#d.configs.attach(this.task.id, {
      signal: (sig) => {
        if (this.#handle === handle) process.kill(handle.pid, sig);
      },
      restart: () => {
        if (this.#handle !== handle) return;
        this.#d.logger.info({ task: this.task.id }, 'config changed: restarting task');
        void this.#d.runtime.stop(this.task.id, this.task.spec.stopGracePeriodMs).catch((e: unknown) => {
          this.#d.logger.warn(
            { err: messageOf(e), task: this.task.id },
            'restart for a config change failed',
          );
        });
      },
    });
  }

  /** Re-reads usage from the runtime into the status. */
  async refreshUsage(): Promise<void> {
    if (!this.#handle || this.#stop.signal.aborted) return;
    const usage = await this.#d.runtime.stats(this.task.id).catch(() => undefined);
    if (usage) this.#update({ usage });
  }

  async #life(adopted: TaskHandle | undefined): Promise<void> {
    const signal = this.#stop.signal;
    const mem = await this.#d.memory.read(this.task.id);
    if (signal.aborted) return;
    this.#restarts = mem?.restarts ?? 0;
    this.#status.restarts = this.#restarts;
    let handle = adopted;
    while (!signal.aborted) {
      if (!handle) {
        this.#update({ state: 'starting', reason: 'Starting', message: 'starting' }, [
          'nextRestartAt',
          'exitCode',
        ]);
        try {
          handle = await this.#start(signal);
          // Stopped (or detached) while the image, configs or volumes were being made ready.
          if (handle === undefined) return;
        } catch (e) {
          if (signal.aborted) return;
          const reason =
            e instanceof DabbaError && typeof e.details['reason'] === 'string'
              ? e.details['reason']
              : 'StartFailed';
          this.#d.logger.warn({ task: this.task.id, reason, err: messageOf(e) }, 'task failed to start');
          const failed = { exitCode: null, signal: null, reason, message: messageOf(e), crashed: true };
          if (!(await this.#afterExit(failed))) return;
          continue;
        }
      }
      if (adopted === handle && handle !== undefined) {
        // An adopted task keeps following its configs (its files are rewritten as they are now).
        await this.#prepareConfigs().catch((e: unknown) => {
          this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'configs of an adopted task');
        });
        if (signal.aborted) return;
      }
      this.#handle = handle;
      this.#betweenRuns = false;
      this.#attachConfigs(handle);
      // A start that returns after stop(): stop() waits for this life to end, then stops it.
      if (signal.aborted) return;
      const startedAt = handle.startedAt;
      this.#live = true;
      this.#ready = this.task.spec.health.readiness === undefined;
      this.#update(
        {
          state: 'running',
          reason: adopted === handle ? 'Adopted' : 'Started',
          message: `running as pid ${handle.pid}`,
          pid: handle.pid,
          address: handle.address,
          ports: handle.ports,
          startedAt,
        },
        ['exitCode', 'nextRestartAt'],
      );
      this.#startProbes(handle);
      this.#d.onRun?.({ taskId: this.task.id, job: this.task.job, startedAt, adopted: adopted === handle });
      const end = await this.#waitForExit(signal);
      if (end === undefined) return;
      const { exit, livenessFailed } = end;
      this.#stopProbes();
      this.#handle = undefined;
      handle = undefined;
      // The process is gone; clear its runtime state but keep the logs readable until removal.
      const ran = this.#d.clock.now() - startedAt;
      if (ran >= STABLE_RUN_MS) this.#crashes = 0;
      const ended = describeExit(exit, livenessFailed);
      if (!(await this.#afterExit(ended, exit.finishedAt))) return;
    }
  }

  /**
   * Makes the task's image, configs and volumes ready, then starts it; undefined when stopped (or
   * detached) meanwhile: nothing is started then.
   */
  async #start(signal: AbortSignal): Promise<TaskHandle | undefined> {
    if (this.task.spec.image !== undefined && this.#d.ensureImage) {
      await this.#d.ensureImage(this.task.spec.image);
      // Stopped (or detached) while the image was being made ready: start nothing.
      if (signal.aborted) return undefined;
    }
    const configs = await this.#prepareConfigs();
    const volumes = await this.#prepareVolumes();
    if (signal.aborted) return undefined;
    const binds = [...(configs?.binds ?? []), ...(volumes?.binds ?? [])];
    const t0 = performance.timeOrigin + performance.now();
    const handle = await this.#d.runtime.start({
      taskId: this.task.id,
      job: this.task.job,
      version: this.task.version,
      spec: this.task.spec,
      env: {
        ...this.#d.extraEnv?.(this.task),
        DABBA_TASK_ID: this.task.id,
        DABBA_JOB: this.task.job,
        DABBA_JOB_VERSION: String(this.task.version),
        DABBA_HOST: this.#d.hostId,
        // A batch job's task: which completion it runs, which attempt (docs/batch.md).
        ...(this.task.batch === undefined
          ? {}
          : {
              DABBA_COMPLETION_INDEX: String(this.task.batch.index),
              DABBA_ATTEMPT: String(this.task.batch.attempt),
            }),
        ...configs?.env,
        ...volumes?.env,
      },
      ...(binds.length === 0 ? {} : { binds }),
    });
    this.#d.logger.debug(
      { task: this.task.id, at: t0, ms: performance.timeOrigin + performance.now() - t0 },
      'runtime start returned',
    );
    return handle;
  }

  /**
   * Waits for this run to end: its exit, or a failing liveness probe (then the task is stopped and
   * that exit awaited). Undefined once stopped or detached.
   */
  async #waitForExit(
    signal: AbortSignal,
  ): Promise<{ exit: ExitStatus; livenessFailed: boolean } | undefined> {
    const killedForLiveness = new Promise<'liveness'>(
      (resolve) => (this.#livenessKill = () => resolve('liveness')),
    );
    // After stop() the process and its exit are stop()'s business; after detach(), the next agent's.
    const exitOrLiveness = await unlessAborted(
      Promise.race([this.#d.runtime.wait(this.task.id), killedForLiveness]),
      signal,
    );
    this.#livenessKill = undefined;
    if (exitOrLiveness === undefined || signal.aborted) return undefined;
    let exit: ExitStatus;
    let livenessFailed = false;
    if (exitOrLiveness === 'liveness') {
      livenessFailed = true;
      this.#stopProbes();
      this.#d.logger.info({ task: this.task.id }, 'liveness probe failing: restarting task');
      await this.#d.runtime.stop(this.task.id, this.task.spec.stopGracePeriodMs).catch((e: unknown) => {
        this.#d.logger.warn({ err: messageOf(e), task: this.task.id }, 'liveness stop failed');
      });
      const ended = await unlessAborted(this.#d.runtime.wait(this.task.id), signal);
      if (ended === undefined || signal.aborted) return undefined;
      exit = ended;
    } else {
      exit = exitOrLiveness;
    }
    return { exit, livenessFailed };
  }

  /** Decides about a restart after an exit or failed start; false when the task is done. */
  async #afterExit(
    e: {
      exitCode: number | null;
      signal: string | null;
      reason: string;
      message: string;
      crashed: boolean;
    },
    at = this.#d.clock.now(),
  ): Promise<boolean> {
    const signal = this.#stop.signal;
    if (signal.aborted) return false;
    const policy = this.task.spec.restart.policy;
    const restart = policy === 'always' || (policy === 'on-failure' && e.crashed);
    const state: TaskState = e.crashed ? 'failed' : 'stopped';
    // Kept across the restart (a start does not clear it), so the status still says why.
    const lastExit: LastExit = {
      reason: e.reason,
      ...(e.exitCode === null ? {} : { exitCode: e.exitCode }),
      ...(e.signal === null ? {} : { signal: e.signal }),
      at,
    };
    const exitFields = { lastExit, ...(e.exitCode === null ? {} : { exitCode: e.exitCode }) };
    if (!restart) {
      this.#update(
        { state, reason: e.reason, message: e.message, healthy: false, ready: false, ...exitFields },
        ['pid', 'nextRestartAt'],
      );
      await unlessAborted(new Promise<never>(() => undefined), signal);
      return false;
    }
    const delay = backoffDelay(this.#crashes, {
      initialMs: this.task.spec.restart.initialBackoffMs,
      maxMs: this.task.spec.restart.maxBackoffMs,
    });
    this.#crashes++;
    this.#restarts++;
    await this.#d.memory.write(this.task.id, { restarts: this.#restarts }).catch(() => undefined);
    // Stopped while the restart was being recorded: no "restarting" status or log, no removal.
    if (signal.aborted) return false;
    this.#update(
      {
        state,
        // The reason stays the cause (OOMKilled, CommandNotFound, ...); the message says it loops.
        reason: e.reason,
        message: `${e.message}; ${this.#crashes > 1 ? 'crash loop, ' : ''}restarting in ${Math.round(delay / 100) / 10}s (restart ${this.#restarts})`,
        restarts: this.#restarts,
        healthy: false,
        ready: false,
        nextRestartAt: this.#d.clock.now() + delay,
        ...exitFields,
      },
      ['pid', 'healthySince'],
    );
    this.#d.logger.info(
      { task: this.task.id, reason: e.reason, delay, restarts: this.#restarts },
      'restarting task',
    );
    // A restart in place: the runtime keeps the task's address and this run's log.
    this.#betweenRuns = true;
    await this.#d.runtime.remove(this.task.id, { restarting: true }).catch(() => undefined);
    await sleep(delay, signal);
    return !signal.aborted;
  }

  #startProbes(handle: TaskHandle): void {
    if (this.#stop.signal.aborted) return;
    const { liveness, readiness } = this.task.spec.health;
    const target = { address: handle.address, ports: handle.ports, declared: this.task.spec.ports };
    const exec = (cmd: string[], timeoutMs: number) => this.#d.runtime.exec(this.task.id, cmd, timeoutMs);
    const make = (spec: ProbeSpec, kind: 'liveness' | 'readiness'): ProbeLoop =>
      new ProbeLoop({
        spec,
        kind,
        run: (signal?: AbortSignal) => runProbe(spec, target, exec, signal),
        onChange: (s: { passing: boolean; message: string }) => {
          if (kind === 'liveness') {
            this.#live = s.passing;
            if (!s.passing) this.#livenessKill?.();
          } else {
            this.#ready = s.passing;
          }
          this.#refreshHealth(s.passing ? undefined : `${kind} probe failing: ${s.message}`);
        },
      });
    this.#probes = [];
    if (liveness) this.#probes.push(make(liveness, 'liveness'));
    if (readiness) this.#probes.push(make(readiness, 'readiness'));
    // Stopped by #stopProbes (at the end of each run, and by stop() and detach()), not by the
    // runner's signal: a listener per probe per restart on that long-lived signal would pile up.
    for (const p of this.#probes) p.start();
    this.#refreshHealth(undefined);
  }

  #stopProbes(): void {
    for (const p of this.#probes) p.stop();
    this.#probes = [];
  }

  #refreshHealth(problem: string | undefined): void {
    if (this.#status.state !== 'running') return;
    const healthy = this.#live && this.#ready;
    const fields: Partial<TaskStatus> = { healthy, ready: this.#ready };
    if (healthy && !this.#status.healthy) fields.healthySince = this.#d.clock.now();
    if (problem !== undefined) fields.message = problem;
    else if (healthy) fields.message = `running as pid ${this.#status.pid ?? '?'}`;
    this.#update(fields, healthy ? [] : ['healthySince']);
  }

  /** Sets and reports the status; after stop() or detach(), only stop()'s `final` 'stopped'. */
  #update(fields: Partial<TaskStatus>, clear: (keyof TaskStatus)[] = [], final = false): void {
    if (this.#stop.signal.aborted && !final) return;
    const next: TaskStatus = { ...this.#status, ...fields, updatedAt: this.#d.clock.now() };
    for (const k of clear) delete next[k];
    if (next.state !== 'running') {
      next.healthy = false;
      next.ready = false;
    }
    this.#status = next;
    this.#d.reporter.report(next);
  }
}
