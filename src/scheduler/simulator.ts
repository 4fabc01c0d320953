/**
 * A pure, in-memory world for exercising `reconcile`: it keeps the records the server would keep,
 * applies plans the way the server does, and plays a fake agent that starts, stops and crashes
 * tasks one step at a time on a fake clock. Used by the scheduler's tests (and usable by others'),
 * never by production code.
 */
import type {
  Deployment,
  HostCapacity,
  HostState,
  HostView,
  JobRecord,
  JobSpec,
  JobVersionRecord,
  Task,
  TaskStatus,
  TaskView,
  VolumeRecord,
} from '../model/index.ts';
import { promoteDeployment } from './canary.ts';
import { isEmptyPlan } from './plan.ts';
import { reconcile } from './reconcile.ts';
import { rolloutBudget, type RolloutBudget } from './rollout.ts';
import { sameSpec } from './spec-equal.ts';
import type { PlanEvent, ReconcileInput, ReconcilePlan } from './types.ts';

export interface SimHost {
  id: string;
  state: HostState;
  capacity: HostCapacity;
  /** While draining: when the drain is forced (see HostRecord.drainDeadline). */
  drainDeadline?: number;
}

export interface AgentModel {
  /** Agent steps from first seeing a task to it running healthy (default 1). */
  startSteps?: (task: Task) => number;
  /** Tasks for which this says true crash on every start (state 'failed', restarts growing). */
  crashes?: (task: Task) => boolean;
}

export interface SimOptions {
  spec: JobSpec;
  /** The hosts (ignored with `world`). */
  hosts: SimHost[];
  /** Share hosts, tasks, statuses, agent and clock with this simulator (another job on the same
   * fleet): step them together with `stepTogether`. */
  world?: Simulator;
  /** Task ids are this prefix and a number (default 't'); give each job of a shared world its own. */
  idPrefix?: string;
  start?: number;
  stepMs?: number;
  agent?: AgentModel;
  /** Pass `lastGoodVersion` (computed from the deployment records) as well as the records. */
  passLastGood?: boolean;
}

/** The numbers the rollout invariants talk about. */
export interface Snapshot {
  /** Tasks with desired 'run'. */
  run: number;
  /** Tasks with desired 'run' on a live host, running and healthy (tasks of the current spec: for
   * at least minHealthy). */
  available: number;
}

export interface StepRecord {
  step: number;
  now: number;
  plan: ReconcilePlan;
  budget: RolloutBudget;
  /** Before the plan, after the plan (same instant), after the agent's step. */
  before: Snapshot;
  afterPlan: Snapshot;
  afterAgent: Snapshot;
}

/** What the jobs of a fleet share: hosts, tasks (of every job), statuses, the agents, the clock. */
interface SimWorld {
  now: number;
  readonly stepMs: number;
  readonly agent: AgentModel;
  readonly hosts: Map<string, SimHost>;
  readonly tasks: Map<string, Task>;
  readonly statuses: Map<string, TaskStatus>;
  /** Task id -> agent steps since first seen. */
  readonly seen: Map<string, number>;
}

export class Simulator {
  readonly world: SimWorld;
  job: JobRecord;
  readonly versions: JobVersionRecord[] = [];
  readonly deployments = new Map<number, Deployment>();
  readonly events: PlanEvent[] = [];
  /** The job's volume records, by slot (jobs with task.volumes). */
  readonly volumes = new Map<number, VolumeRecord>();
  readonly passLastGood: boolean;
  readonly idPrefix: string;
  #ids = 0;

  constructor(o: SimOptions) {
    if (o.world !== undefined) {
      this.world = o.world.world;
    } else {
      this.world = {
        now: o.start ?? 1_000_000,
        stepMs: o.stepMs ?? 1000,
        agent: o.agent ?? {},
        hosts: new Map(o.hosts.map((h) => [h.id, { ...h }])),
        tasks: new Map(),
        statuses: new Map(),
        seen: new Map(),
      };
    }
    this.passLastGood = o.passLastGood ?? false;
    this.idPrefix = o.idPrefix ?? 't';
    this.job = {
      name: o.spec.name,
      version: 1,
      status: 'active',
      spec: o.spec,
      createdAt: this.now,
      updatedAt: this.now,
    };
    this.versions.push({ name: o.spec.name, version: 1, spec: o.spec, createdAt: this.now });
  }

  get now(): number {
    return this.world.now;
  }

  set now(t: number) {
    this.world.now = t;
  }

  get stepMs(): number {
    return this.world.stepMs;
  }

  get agent(): AgentModel {
    return this.world.agent;
  }

  /** Every task of the fleet (all jobs of a shared world). */
  get tasks(): Map<string, Task> {
    return this.world.tasks;
  }

  get statuses(): Map<string, TaskStatus> {
    return this.world.statuses;
  }

  get hosts(): Map<string, SimHost> {
    return this.world.hosts;
  }

  /** This job's tasks. */
  jobTasks(): Task[] {
    return [...this.tasks.values()].filter((t) => t.job === this.job.name);
  }

  /** Stores a new job version with this spec (like `PUT /v1/jobs/NAME`). */
  deploy(spec: JobSpec): number {
    const version = Math.max(...this.versions.map((v) => v.version)) + 1;
    this.versions.push({ name: this.job.name, version, spec, createdAt: this.now });
    this.job = { ...this.job, version, spec, status: 'active', updatedAt: this.now };
    return version;
  }

  /** Starts draining a host (like `dabba host drain HOST [--deadline D]`); `deadlineMs` from now. */
  drain(hostId: string, deadlineMs?: number): void {
    const h = this.hosts.get(hostId);
    if (h === undefined) throw new Error(`no host ${hostId}`);
    const next: SimHost = { id: h.id, state: 'draining', capacity: h.capacity };
    if (deadlineMs !== undefined) next.drainDeadline = this.now + deadlineMs;
    this.hosts.set(hostId, next);
  }

  /** Sets `promoted` on the current version's deployment record (like `dabba promote JOB`). */
  promote(): boolean {
    const r = promoteDeployment(this.deployments.get(this.job.version), this.now);
    if (r.ok && r.changed) this.deployments.set(r.deployment.version, r.deployment);
    return r.ok;
  }

  stopJob(): void {
    this.job = { ...this.job, status: 'stopped', updatedAt: this.now };
  }

  lastGoodVersion(): number | undefined {
    let best: number | undefined;
    for (const d of this.deployments.values()) {
      if (
        d.state === 'succeeded' &&
        d.version < this.job.version &&
        (best === undefined || d.version > best)
      ) {
        best = d.version;
      }
    }
    return best;
  }

  hostViews(): HostView[] {
    return [...this.hosts.values()].map((h) => {
      const allocated: HostCapacity = { cpu: 0, memoryBytes: 0, pids: 0 };
      let tasks = 0;
      for (const t of this.tasks.values()) {
        if (t.host !== h.id) continue;
        tasks++;
        allocated.cpu += t.spec.resources.cpu;
        allocated.memoryBytes += t.spec.resources.memoryBytes;
        allocated.pids += t.spec.resources.pids;
      }
      const view: HostView = {
        id: h.id,
        state: h.state,
        labels: {},
        capacity: h.capacity,
        allocated,
        runtime: 'process',
        registeredAt: 0,
        tasks,
      };
      if (h.state === 'draining' && h.drainDeadline !== undefined) view.drainDeadline = h.drainDeadline;
      return view;
    });
  }

  taskViews(): TaskView[] {
    return [...this.tasks.values()].map((t) => {
      const status = this.statuses.get(t.id);
      return status === undefined ? { ...t } : { ...t, status: { ...status } };
    });
  }

  /** The input `reconcile` would get now. Each call gives an id source starting at the same point. */
  input(): ReconcileInput {
    let n = this.#ids;
    const input: ReconcileInput = {
      job: this.job,
      versions: [...this.versions],
      tasks: this.taskViews(),
      hosts: this.hostViews(),
      deployment: this.deployments.get(this.job.version),
      otherDeployments: [...this.deployments.values()].filter((d) => d.version !== this.job.version),
      now: this.now,
      newTaskId: () => `${this.idPrefix}${String(++n).padStart(4, '0')}`,
    };
    if (this.volumes.size > 0) input.volumes = [...this.volumes.values()];
    const good = this.lastGoodVersion();
    if (this.passLastGood && good !== undefined) input.lastGoodVersion = good;
    return input;
  }

  reconcile(): ReconcilePlan {
    return reconcile(this.input());
  }

  /** Reconciles a saved input again, with a fresh id source from the same starting point. */
  reconcileInput(input: ReconcileInput): ReconcilePlan {
    let n = Number(input.newTaskId().slice(this.idPrefix.length)) - 1;
    return reconcile({ ...input, newTaskId: () => `${this.idPrefix}${String(++n).padStart(4, '0')}` });
  }

  /** Writes a plan the way the server does. */
  apply(plan: ReconcilePlan): void {
    for (const t of plan.create) {
      if (!this.tasks.has(t.id)) this.#ids++;
      this.tasks.set(t.id, { ...t });
    }
    for (const id of plan.stop) {
      const t = this.tasks.get(id);
      if (t !== undefined) this.tasks.set(id, { ...t, desired: 'stop' });
    }
    for (const id of plan.remove) {
      this.tasks.delete(id);
      this.statuses.delete(id);
      this.world.seen.delete(id);
    }
    for (const d of [...plan.supersede, ...(plan.deployment === undefined ? [] : [plan.deployment])]) {
      this.deployments.set(d.version, d);
    }
    if (plan.rollbackTo !== undefined) {
      const target = this.versions.find((v) => v.version === plan.rollbackTo);
      if (target !== undefined) this.deploy(target.spec);
    }
    for (const v of plan.volumes ?? []) this.volumes.set(v.slot, v);
    this.events.push(...plan.events);
  }

  /** Changes a task's status as its agent would report it (failure injection). */
  setStatus(id: string, patch: Partial<TaskStatus>): void {
    const s = this.statuses.get(id);
    if (s !== undefined) this.statuses.set(id, { ...s, ...patch, updatedAt: this.now });
  }

  /** One step of every live host's agent (every job's tasks), then the clock moves on by stepMs. */
  agentStep(): void {
    for (const t of [...this.tasks.values()].sort((a, b) => (a.id < b.id ? -1 : 1))) {
      if (t.host === null || this.hosts.get(t.host)?.state === 'down' || !this.hosts.has(t.host)) continue;
      const s = this.statuses.get(t.id);
      if (t.desired === 'stop') {
        // As the real agent: whatever the task was doing (or if it never ran here), it is stopped,
        // its traces removed, and 'stopped' reported.
        if (s?.state !== 'stopped') {
          this.statuses.set(t.id, {
            ...(s ?? { id: t.id, job: t.job, host: t.host, restarts: 0 }),
            state: 'stopped',
            healthy: false,
            ready: false,
            reason: 'Stopped',
            exitCode: 0,
            updatedAt: this.now,
          });
        }
        continue;
      }
      const age = (this.world.seen.get(t.id) ?? 0) + 1;
      this.world.seen.set(t.id, age);
      const base: TaskStatus = s ?? {
        id: t.id,
        job: t.job,
        host: t.host,
        state: 'pending',
        healthy: false,
        ready: false,
        restarts: 0,
        updatedAt: this.now,
      };
      if (this.agent.crashes?.(t) === true) {
        this.statuses.set(
          t.id,
          s === undefined || s.state === 'failed'
            ? { ...base, state: 'starting', startedAt: this.now, updatedAt: this.now }
            : {
                ...base,
                state: 'failed',
                healthy: false,
                reason: 'Exited',
                exitCode: 1,
                restarts: base.restarts + 1,
                nextRestartAt: this.now + this.stepMs,
                updatedAt: this.now,
              },
        );
        continue;
      }
      if (base.state === 'running') continue;
      if (age >= (this.agent.startSteps?.(t) ?? 1)) {
        this.statuses.set(t.id, {
          ...base,
          state: 'running',
          healthy: true,
          ready: true,
          startedAt: base.startedAt ?? this.now,
          healthySince: this.now,
          updatedAt: this.now,
        });
      } else if (s === undefined) {
        this.statuses.set(t.id, { ...base, state: 'starting', startedAt: this.now });
      }
    }
    this.now += this.stepMs;
  }

  /** Independent of the scheduler's own bookkeeping: how many tasks run, how many are available. */
  snapshot(): Snapshot {
    let run = 0;
    let available = 0;
    const minHealthy = this.job.spec.update.minHealthyMs;
    for (const t of this.tasks.values()) {
      if (t.desired !== 'run' || t.job !== this.job.name) continue;
      run++;
      const s = this.statuses.get(t.id);
      if (t.host === null || s?.state !== 'running' || !s.healthy) continue;
      const host = this.hosts.get(t.host);
      if (host === undefined || host.state === 'down') continue; // lost, whatever it last reported
      // tasks of the current spec (of this version, or kept from an earlier one with the same task
      // spec) count once healthy for minHealthy; the tasks they replace count while healthy
      if (
        minHealthy > 0 &&
        (t.version === this.job.version || sameSpec(t.spec, this.job.spec.task)) &&
        (s.healthySince ?? Infinity) + minHealthy > this.now
      )
        continue;
      available++;
    }
    return { run, available };
  }

  /** reconcile, apply, agent step. */
  step(n: number): StepRecord {
    const before = this.snapshot();
    const budget = rolloutBudget(this.job.spec.replicas, this.job.spec.update);
    const now = this.now;
    const plan = this.reconcile();
    this.apply(plan);
    const afterPlan = this.snapshot();
    this.agentStep();
    return { step: n, now, plan, budget, before, afterPlan, afterAgent: this.snapshot() };
  }

  /**
   * True when the last plan was empty, nothing waits on the clock, no task is stopping, starting or
   * unseen by its agent (crash-looping ones aside), and reconciling again now changes nothing and
   * waits on nothing.
   */
  settled(plan: ReconcilePlan): boolean {
    if (!isEmptyPlan(plan) || plan.wakeAt !== undefined) return false;
    for (const t of this.jobTasks()) {
      if (t.desired === 'stop') return false;
      if (t.host === null || this.hosts.get(t.host)?.state === 'down') continue;
      const s = this.statuses.get(t.id);
      if (s === undefined) return false;
      if ((s.state === 'pending' || s.state === 'starting') && this.agent.crashes?.(t) !== true) return false;
    }
    const again = this.reconcile();
    return isEmptyPlan(again) && again.wakeAt === undefined;
  }

  /** Steps until settled (or maxSteps), handing every step to `observe`. */
  run(maxSteps: number, observe?: (s: StepRecord) => void): { steps: StepRecord[]; settled: boolean } {
    const steps: StepRecord[] = [];
    for (let i = 0; i < maxSteps; i++) {
      const s = this.step(i);
      steps.push(s);
      observe?.(s);
      if (this.settled(s.plan)) return { steps, settled: true };
    }
    return { steps, settled: false };
  }
}

/**
 * One step of several jobs sharing a world: each reconciles and applies its plan in turn (like the
 * server's loop, one job at a time), then the agents take one step.
 */
export function stepTogether(sims: readonly Simulator[], n: number): StepRecord[] {
  const first = sims[0];
  if (first === undefined) return [];
  const partial = sims.map((sim) => {
    const before = sim.snapshot();
    const budget = rolloutBudget(sim.job.spec.replicas, sim.job.spec.update);
    const now = sim.now;
    const plan = sim.reconcile();
    sim.apply(plan);
    return { step: n, now, plan, budget, before, afterPlan: sim.snapshot() };
  });
  first.agentStep();
  return partial.map((p, i) => ({ ...p, afterAgent: sims[i]!.snapshot() }));
}
