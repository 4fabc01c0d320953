/**
 * reconcile: one job's desired state and observed state in, the writes that move them together out.
 * Level-triggered and pure: it reads only its input, and applying its plan then reconciling again
 * converges (an empty plan) instead of oscillating.
 */
import {
  placementExplanation,
  type Deployment,
  type JobRecord,
  type Task,
  type TaskView,
} from '../model/index.ts';
import { awaitingPromotion, canaryCount, canaryMessage, phaseChange } from './canary.ts';
import {
  finish,
  deadlineOf,
  failureMessage,
  failureOf,
  type Failure,
  isComplete,
  progressMessage,
  sameRecord,
  startDeployment,
  withCounts,
  type ProgressCounts,
} from './deployment-progress.ts';
import { drainForced, drainingHost } from './drain.ts';
import { allocatorPlacement, type PlacementResult, type Placer } from './placement.ts';
import { rescheduleReason } from './reschedule.ts';
import { chooseRollback } from './rollback.ts';
import {
  planRollout,
  rolloutBudget,
  type OldTasks,
  type RolloutBudget,
  type RolloutDecision,
  type StopWhy,
} from './rollout.ts';
import { sameSpec } from './spec-equal.ts';
import { finishVolumes, VOLUME_WAIT_MS, VolumePlacer, withVolumePlacement } from './volumes.ts';
import { availableFrom, byAge, goneReason, label, lostReason, stopOrder, taskRecord } from './task-state.ts';
import { reconcileBatch } from './batch.ts';
import { PlanBuilder } from './plan-builder.ts';
import type { HostLookup, ReconcileInput, ReconcilePlan } from './types.ts';

export function reconcile(input: ReconcileInput): ReconcilePlan {
  const { job, now } = input;
  const out = new PlanBuilder();
  const hosts: HostLookup = input.fleet ?? new Map(input.hosts.map((h) => [h.id, h]));

  // Tasks whose process is gone (or whose host is) leave the store; the rest that should run are
  // what the rollout works with. Stopping tasks still in flight are simply waited for.
  const running: TaskView[] = [];
  for (const task of input.tasks.filter((t) => t.job === job.name).sort(byAge)) {
    const lost = lostReason(task, hosts);
    if (lost !== undefined && task.desired === 'run' && input.holdLost?.has(task.id) === true) {
      running.push(task); // its replacement waits for the job's controller
      continue;
    }
    if (lost !== undefined) {
      if (task.desired === 'run') out.remove(task, 'task.lost', `task ${label(task)} is lost: ${lost}`);
      else out.remove(task, 'task.removed', `removed task ${label(task)}: ${lost}`);
      continue;
    }
    if (task.desired === 'stop') {
      const gone = goneReason(task);
      if (gone !== undefined) out.remove(task, 'task.removed', `removed task ${label(task)}: ${gone}`);
      continue;
    }
    running.push(task);
  }

  for (const d of input.otherDeployments ?? []) {
    if (d.job === job.name && d.version !== job.version && d.state === 'in-progress') {
      const done = finish(d, 'superseded', `superseded by v${job.version}`, now);
      out.plan.supersede.push(done);
      out.event('deployment.superseded', `deployment of v${d.version} superseded by v${job.version}`);
    }
  }

  const record =
    input.deployment !== undefined &&
    input.deployment.job === job.name &&
    input.deployment.version === job.version
      ? input.deployment
      : undefined;

  if (job.status === 'stopped') {
    for (const task of running) out.stop(task, 'job stopped');
    if (record?.state === 'in-progress') {
      out.plan.deployment = finish(record, 'stopped', 'job stopped', now);
      out.event('deployment.stopped', `deployment of v${job.version} stopped: job stopped`);
    }
    return out.plan;
  }

  if (job.spec.batch !== undefined) reconcileBatch(input, running, record, out);
  else reconcileActive(input, hosts, running, record, out);
  return out.plan;
}

function reconcileActive(
  input: ReconcileInput,
  hosts: HostLookup,
  running: TaskView[],
  record: Deployment | undefined,
  out: PlanBuilder,
): void {
  const { job, now } = input;
  const update = job.spec.update;
  const budget = rolloutBudget(job.spec.replicas, update);
  const isCurrent = currentSpecMatcher(job);

  // Past a draining host's deadline, whatever is left on it stops, budget or not.
  const forced: TaskView[] = [];
  const live: TaskView[] = [];
  for (const t of running) {
    const h = drainingHost(t, hosts, now);
    if (h !== undefined && drainForced(h, now)) forced.push(t);
    else live.push(t);
  }
  const allCurrent = live.filter(isCurrent);
  const old = live.filter((t) => !isCurrent(t));
  const from = (t: TaskView): number | undefined => availableFrom(t, isCurrent(t) ? update.minHealthyMs : 0);
  const available = (t: TaskView): boolean => {
    const at = from(t);
    return at !== undefined && at <= now;
  };

  // The deployment record this pass works from: a (re)started one when there is none yet.
  let deployment: Deployment;
  let started = false;
  if (record === undefined || record.state === 'stopped' || record.state === 'superseded') {
    deployment = startDeployment(job, replacedVersion(job, running, isCurrent), now);
    const canaries = canaryCount(
      job,
      running.filter((t) => !isCurrent(t)).length,
      input.versions,
      input.otherDeployments ?? [],
      input.lastGoodVersion,
    );
    if (canaries > 0) deployment = { ...deployment, phase: 'canary', canaries };
    started = true;
  } else {
    deployment = record;
  }
  const change = phaseChange(deployment, allCurrent.filter(available).length, update.autoPromote);
  if (change?.to === 'paused') deployment = { ...deployment, phase: 'paused' };
  else if (change?.to === 'rolling') deployment = { ...deployment, phase: 'rolling', promotedAt: now };

  // Current-spec tasks that must leave their host: it drains, or they keep crashing there. Tasks of
  // the version being rolled out are not rescheduled until it succeeds (a crash loop fails it).
  const moves = new Map<string, Move>();
  for (const t of allCurrent) {
    if (drainingHost(t, hosts, now) !== undefined) {
      moves.set(t.id, { kind: 'drain' });
    } else if (t.version !== job.version || deployment.state === 'succeeded') {
      const why = rescheduleReason(t);
      if (why !== undefined) moves.set(t.id, { kind: 'reschedule', why });
    }
  }
  const evicting = allCurrent.filter((t) => moves.has(t.id));
  const current = allCurrent.filter((t) => !moves.has(t.id));
  const leaving = (t: TaskView): boolean => drainingHost(t, hosts, now) !== undefined;

  const rolloutFor = (oldTasks: OldTasks, cap: number): RolloutDecision =>
    planRollout({
      budget,
      current,
      old,
      available,
      frozen: oldTasks === 'keep',
      currentCap: cap,
      oldTasks,
      evicting,
      leaving,
    });
  const alreadyFailed = deployment.state === 'failed';
  const canaryPhase = deployment.state === 'in-progress' && awaitingPromotion(deployment);
  let cap = alreadyFailed ? deployment.placed : canaryPhase ? (deployment.canaries ?? 0) : Infinity;
  let decision = rolloutFor(alreadyFailed ? 'keep' : canaryPhase ? 'room' : 'replace', cap);
  const done = (c: ProgressCounts): boolean => isComplete(c) && !awaitingPromotion(deployment);
  const forcedIds = new Set(forced.map((t) => t.id));
  let counts = countsAfter(job, allCurrent, old, stoppedBy(decision, forcedIds), available, NOTHING_PLACED);

  let failure: Failure | undefined;
  if (deployment.state === 'in-progress' && !done(counts)) {
    failure = failureOf(deployment, allCurrent, update, now);
    if (failure !== undefined) {
      // A failed deployment stops here: no more new tasks than exist now, old ones stay.
      cap = allCurrent.length;
      decision = rolloutFor('keep', cap);
    }
  }

  const stopped = new Set<string>();
  for (const task of forced) {
    stopped.add(task.id);
    out.stop(task, `the drain deadline of host ${task.host} has passed (forced)`, 'task.drain-forced', {
      op: 'move',
      ...deadlineOn(task, hosts),
    });
  }
  for (const { task, why } of decision.stop) {
    stopped.add(task.id);
    const op = why === 'surplus' ? 'stop' : why === 'old-drained' ? 'move' : 'replace';
    out.stop(
      task,
      stopWhy(why, job, current.length, task, failure !== undefined || alreadyFailed),
      undefined,
      {
        op,
        ...deadlineOn(task, hosts),
      },
    );
  }

  const placer = makePlacer(input, live, stopped, isCurrent);
  const placed = place(input, placer, current, stopped, decision.create, out);
  const moved = moveTasks(input, placer, {
    budget,
    hosts,
    evicting,
    moves,
    available,
    cap,
    stopped,
    availableCount: decision.available,
    running: decision.running + decision.create,
    currentCount: current.filter((t) => !stopped.has(t.id)).length + decision.create,
    placedCount:
      current.filter((t) => !stopped.has(t.id) && (t.host !== null || placed.placed.has(t.id))).length +
      placed.created,
    out,
  });
  placed.created += moved.created;
  finishVolumes(placer, out.plan);
  counts = countsAfter(job, allCurrent, old, stopped, available, placed);

  // The deployment record, moved on by what this pass saw and did.
  let next: Deployment;
  let failed: string | undefined;
  if (deployment.state !== 'in-progress') {
    next = deployment; // finished records are history: their counts stay as they were
  } else if (done(counts)) {
    next = finish(
      withCounts(deployment, counts, now),
      'succeeded',
      progressMessage(job.version, counts),
      now,
    );
  } else if (failure !== undefined) {
    failed = failureMessage(failure, deployment, counts, update);
    next = finish(withCounts(deployment, counts, now), 'failed', failed, now);
  } else {
    next = withCounts(deployment, counts, now);
    if (awaitingPromotion(next)) next.message = canaryMessage(next, counts);
  }
  if (started || !sameRecord(record, next)) {
    out.plan.deployment = next;
    if (started) {
      const canaries =
        next.canaries === undefined
          ? ''
          : `, ${next.canaries} ${next.canaries === 1 ? 'canary' : 'canaries'} first` +
            (update.autoPromote ? ' (autoPromote)' : ', then waits for promotion');
      out.event(
        'deployment.started',
        `deployment of v${job.version} started (from v${next.fromVersion}): ${budget.replicas} replicas, ` +
          `maxUnavailable ${budget.maxUnavailable}, maxSurge ${budget.maxSurge}${canaries}`,
      );
    }
    if (change !== undefined && failure === undefined) {
      if (change.to === 'paused') {
        out.event(
          'deployment.paused',
          `deployment of v${job.version} paused: its canaries are available; promote it to continue (dabba promote ${job.name})`,
        );
      } else {
        out.event(
          'deployment.promoted',
          `deployment of v${job.version} promoted (${change.auto ? 'autoPromote' : 'on request'}): rolling out the rest`,
        );
      }
    }
    if (next.state === 'succeeded')
      out.event('deployment.succeeded', `deployment of v${job.version} succeeded: ${next.message}`);
    else if (next.state === 'failed' && failed !== undefined)
      out.event('deployment.failed', `deployment of v${job.version} failed: ${failed}`);
    else if (!started && next.state === 'in-progress')
      out.event('deployment.progress', `deployment of v${job.version}: ${next.message}`);
  }

  if (next.state === 'failed' && update.autoRollback) {
    const choice = chooseRollback(
      job,
      input.versions,
      (input.otherDeployments ?? []).filter((d) => d.job === job.name),
      input.lastGoodVersion,
    );
    if ('version' in choice) {
      out.plan.rollbackTo = choice.version;
      out.event(
        'job.rollback',
        `rolling back ${job.name} from v${job.version} to v${choice.version}, the last good version`,
      );
    } else if (failed !== undefined) {
      out.event('job.rollback-skipped', `not rolling back ${job.name}: ${choice.none}`);
    }
  }

  // Time alone changes availability (minimum healthy time), deadlines and forced drains: ask to be
  // woken.
  for (const t of allCurrent) if (!stopped.has(t.id)) out.wake(from(t), now);
  if (next.state === 'in-progress') out.wake(deadlineOf(next, update), now);
  for (const t of live) {
    if (stopped.has(t.id)) continue;
    out.wake(drainingHost(t, hosts, now)?.drainDeadline, now);
    // A maintenance window not started yet: decide again at its start.
    if (t.host !== null) out.wake(hosts.get(t.host)?.maintenance?.start, now);
  }
}

/** A draining host's deadline, as a disruption's deadline (nothing when its host is not draining). */
function deadlineOn(task: TaskView, hosts: HostLookup): { deadline?: number } {
  const d = drainingHost(task, hosts)?.drainDeadline;
  return d === undefined ? {} : { deadline: d };
}

/** Why a current-spec task must leave its host. */
type Move = { kind: 'drain' } | { kind: 'reschedule'; why: string };

const NOTHING_PLACED: Placed = { placed: new Set(), created: 0 };

function stoppedBy(decision: RolloutDecision, also: ReadonlySet<string>): Set<string> {
  const s = new Set(also);
  for (const { task } of decision.stop) s.add(task.id);
  return s;
}

/**
 * Tasks run the current spec when their version is the current one, or when their version's task
 * spec is identical: a change of replicas or update settings, or a rollback to an earlier spec,
 * keeps the tasks that already run it instead of replacing them. (Decided once per version: all
 * tasks of one version share its spec.)
 */
function currentSpecMatcher(job: JobRecord): (t: TaskView) => boolean {
  const memo = new Map<number, boolean>();
  return (t) => {
    if (t.version === job.version) return true;
    let same = memo.get(t.version);
    if (same === undefined) {
      same = sameSpec(t.spec, job.spec.task);
      memo.set(t.version, same);
    }
    return same;
  };
}

/** The version being replaced: newest older version among tasks to replace, else among the tasks
 * kept, else 0. */
function replacedVersion(
  job: JobRecord,
  running: readonly TaskView[],
  isCurrent: (t: TaskView) => boolean,
): number {
  let replaced = 0;
  let kept = 0;
  for (const t of running) {
    if (t.version >= job.version) continue;
    if (isCurrent(t)) kept = Math.max(kept, t.version);
    else replaced = Math.max(replaced, t.version);
  }
  return replaced > 0 ? replaced : kept;
}

function stopWhy(
  why: StopWhy,
  job: JobRecord,
  currentCount: number,
  task: TaskView,
  failed: boolean,
): string {
  switch (why) {
    case 'surplus':
      return `surplus (${currentCount} tasks of v${job.version}'s spec for ${job.spec.replicas} replicas)`;
    case 'old-unavailable':
      return `replaced by v${job.version} (not available)`;
    case 'old-replaced':
      return `replaced by v${job.version}`;
    case 'old-drained':
      return `host ${task.host} is draining (not replaced: the deployment of v${job.version} ${
        failed ? 'failed' : 'waits for promotion'
      })`;
    case 'canary-room':
      return `making room for the canaries of v${job.version}`;
  }
}

/** The placer for this pass: the job's tasks that stay (not stopped) steer the spread; a job with
 * volumes gets slots and volume affinity (volumes.ts). */
function makePlacer(
  input: ReconcileInput,
  live: readonly TaskView[],
  stopped: ReadonlySet<string>,
  isCurrent: (t: TaskView) => boolean,
): Placer {
  const { job } = input;
  const jobTasks = new Map<string, number>();
  for (const t of live) {
    if (t.host !== null && !stopped.has(t.id)) jobTasks.set(t.host, (jobTasks.get(t.host) ?? 0) + 1);
  }
  const base = (input.placement ?? allocatorPlacement)(
    input.hosts,
    jobTasks,
    {
      name: job.name,
      version: job.version,
      placement: job.spec.placement,
      ports: job.spec.task.ports,
    },
    input.fleet,
  );
  const volumes = job.spec.task.volumes ?? [];
  if (volumes.length === 0) return base;
  return new VolumePlacer(base, {
    job: { name: job.name, replicas: job.spec.replicas, volumes: volumes.map((v) => v.name) },
    live,
    stopped,
    isCurrent,
    records: input.volumes ?? [],
    hosts: input.fleet ?? new Map(input.hosts.map((h) => [h.id, h])),
    waitMs: job.spec.placement.volumeWaitMs ?? VOLUME_WAIT_MS,
    now: input.now,
  });
}

/**
 * Places unplaced current tasks (oldest first) and then `create` new ones. Returns the ids of tasks
 * that get a host in this pass and how many new tasks got one.
 */
function place(
  input: ReconcileInput,
  placer: Placer,
  current: readonly TaskView[],
  stopped: ReadonlySet<string>,
  create: number,
  out: PlanBuilder,
): Placed {
  const placed: Placed = { placed: new Set(), created: 0 };
  const waiting = current.filter((t) => t.host === null && !stopped.has(t.id));
  for (const view of waiting) {
    const r = placer.place(view.spec.resources, view.id);
    const task = taskRecord(view);
    withVolumePlacement(task, r);
    if (r.host !== null) {
      delete task.unplaced;
      delete task.explanation;
      task.host = r.host;
      placed.placed.add(task.id);
      out.upsert(task, 'task.placed', `placed task ${label(task)} on ${r.host}`);
    } else if (
      r.reason !== view.unplaced ||
      (r.explanation !== undefined && view.explanation === undefined)
    ) {
      setUnplaced(task, r);
      out.upsert(task, 'task.unplaceable', `task ${label(task)} is not placed: ${r.reason}`);
    }
  }
  for (let i = 0; i < create; i++) {
    const id = input.newTaskId();
    const r = placer.place(input.job.spec.task.resources, id);
    const task = newTask(input, id, r);
    if (r.host !== null) {
      placed.created++;
      out.upsert(task, 'task.created', `created task ${label(task)} on ${r.host}`);
    } else {
      out.upsert(task, 'task.unplaceable', `created task ${label(task)}, not placed: ${r.reason}`);
    }
  }
  return placed;
}

function newTask(input: ReconcileInput, id: string, r: PlacementResult): Task {
  const { job, now } = input;
  const task: Task = {
    id,
    job: job.name,
    version: job.version,
    host: r.host,
    desired: 'run',
    spec: job.spec.task,
    createdAt: now,
  };
  if (r.host === null) setUnplaced(task, r);
  return withVolumePlacement(task, r);
}

/** Records why a task has no host: the one-line reason and, when the strategy gives one, the data. */
function setUnplaced(task: Task, r: PlacementResult & { host: null }): void {
  task.unplaced = r.reason;
  if (r.explanation === undefined) delete task.explanation;
  else task.explanation = placementExplanation(r.explanation);
}

interface MoveContext {
  budget: RolloutBudget;
  hosts: HostLookup;
  evicting: readonly TaskView[];
  moves: ReadonlyMap<string, Move>;
  available: (t: TaskView) => boolean;
  /** Most current-spec tasks there may be after this pass. */
  cap: number;
  /** Tasks stopped so far in this pass (moved ones are added). */
  stopped: Set<string>;
  /** After this pass's other stops and starts: */
  availableCount: number;
  /** ... tasks with desired 'run', */
  running: number;
  /** ... current-spec tasks that stay where they are (placed or not), */
  currentCount: number;
  /** ... and those of them with a host. */
  placedCount: number;
  out: PlanBuilder;
}

/**
 * Moves current-spec tasks off their hosts (draining, or crash-looping there), one replacement at a
 * time, like a rolling update: a task is stopped once a replacement has a host (placed in an earlier
 * pass or in this one) and only while at least minAvailable stay available; a replacement is
 * started only within maxRun (or when the task it replaces stops in the same pass) and the current
 * cap. A replacement for a crash-looping task avoids its host and is only created when it fits
 * elsewhere; one for a task on a draining host is created unplaced when nothing fits (it says why,
 * and the drain waits for it). Returns how many replacements got a host.
 */
function moveTasks(input: ReconcileInput, placer: Placer, c: MoveContext): { created: number } {
  const { budget, available, out } = c;
  let created = 0;
  let remaining = c.evicting.length;
  for (const task of [...c.evicting].sort(stopOrder(available))) {
    const move = c.moves.get(task.id);
    if (move === undefined || task.host === null) continue;
    const affordable = !available(task) || c.availableCount - 1 >= budget.minAvailable;
    const stop = (why: string): void => {
      c.stopped.add(task.id);
      out.stop(task, why, undefined, { op: 'move', ...deadlineOn(task, c.hosts) });
      if (available(task)) c.availableCount--;
      c.running--;
      remaining--;
    };
    // Enough placed tasks without this one: it may go (if the budget allows).
    if (c.placedCount + remaining > budget.replicas) {
      if (affordable) stop(moveWhy(move, task, undefined));
      continue;
    }
    // Its replacement exists but waits for a host.
    if (c.currentCount + remaining > budget.replicas) continue;
    const surge = c.running + 1 <= budget.maxRun;
    const capped = c.currentCount + remaining + 1 > c.cap;
    if (!affordable && (!surge || capped)) continue;
    // (A draining host takes no new task anyway; saying so again would change the unplaced reason.)
    const hints =
      move.kind === 'reschedule' ? { avoidHosts: [task.host], replaces: task.id } : { replaces: task.id };
    const r = placer.place(input.job.spec.task.resources, undefined, hints);
    if (r.host === null) {
      if (move.kind === 'drain' && surge && !capped) {
        const replacement = newTask(input, input.newTaskId(), r);
        c.running++;
        c.currentCount++;
        out.upsert(
          replacement,
          'task.unplaceable',
          `created task ${label(replacement)} to replace ${label(task)} on draining host ${task.host}, not placed: ${r.reason}`,
        );
      }
      continue; // a crash-looping task with nowhere else to go keeps restarting in place
    }
    const replacement = newTask(input, input.newTaskId(), r);
    c.running++;
    c.currentCount++;
    c.placedCount++;
    created++;
    if (move.kind === 'drain') {
      out.upsert(
        replacement,
        'task.created',
        `created task ${label(replacement)} on ${r.host} to replace ${label(task)} on draining host ${task.host}`,
      );
    } else {
      out.upsert(
        replacement,
        'task.rescheduled',
        `rescheduling task ${label(task)} off ${task.host} (${move.why}): replaced by ${label(replacement)} on ${r.host}`,
      );
    }
    if (affordable) stop(moveWhy(move, task, replacement));
  }
  return { created };
}

function moveWhy(move: Move, task: TaskView, replacement: Task | undefined): string {
  const by =
    replacement === undefined ? 'replaced' : `replaced by ${label(replacement)} on ${replacement.host}`;
  return move.kind === 'drain'
    ? `host ${task.host} is draining (${by})`
    : `rescheduled after ${move.why} (${by})`;
}

interface Placed {
  /** Existing unplaced tasks that got a host. */
  placed: Set<string>;
  /** New tasks that got a host. */
  created: number;
}

/** The counts once this pass's stops and starts are applied (new tasks are neither running nor
 * available). */
function countsAfter(
  job: JobRecord,
  current: readonly TaskView[],
  old: readonly TaskView[],
  stopped: ReadonlySet<string>,
  available: (t: TaskView) => boolean,
  placed: Placed,
): ProgressCounts {
  const c: ProgressCounts = { desired: job.spec.replicas, placed: 0, running: 0, healthy: 0, old: 0 };
  for (const t of current) {
    if (stopped.has(t.id)) continue;
    if (t.host !== null || placed.placed.has(t.id)) c.placed++;
    if (t.status?.state === 'running') c.running++;
    if (available(t)) c.healthy++;
  }
  c.placed += placed.created;
  for (const t of old) if (!stopped.has(t.id)) c.old++;
  return c;
}
