/**
 * TaskControl on the control plane's side: per job with a controller, what waits on it, what it
 * acknowledged, and the requests to it. The scheduler loop calls `before` (lost tasks whose
 * replacement waits) and `gate` (the plan without the stops still waiting) around the pure
 * `reconcile`; requests go out in the background, one at a time per job, and an answer that lets
 * something proceed asks the loop to decide the job again (`onAck`). An unreachable or failing
 * controller acknowledges nothing: operations wait, except those whose deadline has come.
 * State lives in memory (a new shard owner starts afresh and proposes again); what waits is
 * published for status (`publish`).
 */
import type { Clock, Logger } from '../lib/index.ts';
import {
  operationId,
  type JobRecord,
  type MaintenanceNotice,
  type TaskControlRequest,
  type TaskControlState,
  type TaskView,
  type UnhealthyTask,
  type WaitingOperation,
} from '../model/index.ts';
import { lostReason, rolloutBudget, type HostLookup, type ReconcilePlan } from '../scheduler/index.ts';
import { callController, type ControllerAnswer } from './controller-client.ts';
import { gatePlan } from './gate.ts';

export interface TaskControlOptions {
  clock: Clock;
  logger: Logger;
  /** A controller's answer may let some of the job's operations proceed: decide it again. */
  onAck: (job: string) => void;
  /** What waits on the job's controller changed (undefined: nothing waits, no error). */
  publish: (job: string, state: TaskControlState | undefined) => void;
  /** Time between requests while operations wait (default 1 s); after a failure it doubles up to 10 s. */
  retryMs?: number;
  /** The request (tests and benchmarks may count calls); default: HTTP POST. */
  call?: (
    url: string,
    request: TaskControlRequest,
    timeoutMs: number,
    signal: AbortSignal,
  ) => Promise<ControllerAnswer>;
}

interface Ledger {
  url: string;
  timeoutMs: number;
  waiting: Map<string, WaitingOperation>;
  acked: Set<string>;
  completed: string[];
  unhealthy: Map<string, UnhealthyTask>;
  notices: MaintenanceNotice[];
  sequence: number;
  inFlight: boolean;
  timer: NodeJS.Timeout | undefined;
  failures: number;
  lastContact?: number;
  lastError?: string;
  /** What the controller last heard about notices and unhealthy tasks (only changes are news). */
  sentNews: string;
  /** Ids proposed in the last request. */
  sent: Set<string>;
  published: string;
}

export class TaskControl {
  readonly #o: TaskControlOptions;
  readonly #jobs = new Map<string, Ledger>();
  readonly #abort = new AbortController();

  constructor(options: TaskControlOptions) {
    this.#o = options;
  }

  /** Stops requests and timers. */
  close(): void {
    this.#abort.abort();
    for (const l of this.#jobs.values()) clearTimeout(l.timer);
  }

  /** The job has no controller (any more) or is gone: forget it. */
  forget(job: string): void {
    const l = this.#jobs.get(job);
    if (l === undefined) return;
    clearTimeout(l.timer);
    this.#jobs.delete(job);
    this.#o.publish(job, undefined);
  }

  #ledger(job: JobRecord): Ledger {
    const tc = job.spec.taskControl;
    if (tc === undefined) throw new Error(`job ${job.name} has no controller`);
    let l = this.#jobs.get(job.name);
    if (l === undefined) {
      l = {
        url: tc.url,
        timeoutMs: tc.timeoutMs,
        waiting: new Map(),
        acked: new Set(),
        completed: [],
        unhealthy: new Map(),
        notices: [],
        sequence: 0,
        inFlight: false,
        timer: undefined,
        failures: 0,
        sentNews: '[[],[]]',
        sent: new Set(),
        published: '',
      };
      this.#jobs.set(job.name, l);
    }
    l.url = tc.url;
    l.timeoutMs = tc.timeoutMs;
    return l;
  }

  /**
   * Before the job is decided: its tasks on failed hosts are reported as unhealthy, and each one's
   * replacement ('restart') waits for the controller up to `hostFailureWaitMs` after the failure was
   * first seen. Returns the ids of lost tasks to keep (for `ReconcileInput.holdLost`). Also gathers
   * the advance notices of draining hosts that run the job's tasks.
   */
  before(job: JobRecord, tasks: readonly TaskView[], hosts: HostLookup, now: number): ReadonlySet<string> {
    const l = this.#ledger(job);
    const wait = job.spec.taskControl?.hostFailureWaitMs ?? 0;
    const hold = new Set<string>();
    const lost = new Map<string, UnhealthyTask>();
    const notices = new Map<string, MaintenanceNotice>();
    for (const t of tasks) {
      if (t.job !== job.name || t.host === null || t.desired !== 'run') continue;
      const why = lostReason(t, hosts);
      if (why !== undefined) {
        const u = l.unhealthy.get(t.id) ?? { task: t.id, host: t.host, reason: why, since: now };
        lost.set(t.id, u);
        const id = operationId('restart', t.id);
        const deadline = u.since + wait;
        if (l.acked.has(id) || deadline <= now) {
          if (!l.completed.includes(id)) l.completed.push(id);
          l.acked.delete(id);
          l.waiting.delete(id);
          continue;
        }
        hold.add(t.id);
        l.waiting.set(id, {
          id,
          task: t.id,
          op: 'restart',
          host: t.host,
          deadline,
          reason: `${why}: replace it elsewhere`,
          since: l.waiting.get(id)?.since ?? now,
        });
        continue;
      }
      const h = hosts.get(t.host);
      if (h?.state === 'draining' || h?.state === 'maintenance') {
        const n = notices.get(h.id) ?? { host: h.id, kind: h.state, tasks: [] };
        if (h.drainDeadline !== undefined) n.deadline = h.drainDeadline;
        if (h.maintenance !== undefined) {
          n.start = h.maintenance.start;
          n.reason = h.maintenance.reason;
        }
        n.tasks.push(t.id);
        notices.set(h.id, n);
      }
    }
    l.unhealthy = lost;
    l.notices = [...notices.values()];
    return hold;
  }

  /** After the job is decided: the plan to write, without the stops still waiting on the controller. */
  gate(job: JobRecord, plan: ReconcilePlan, tasks: readonly TaskView[], now: number): ReconcilePlan {
    const l = this.#ledger(job);
    const removed = new Set(plan.remove);
    const live = tasks.filter((t) => t.desired === 'run' && !removed.has(t.id)).length;
    const r = gatePlan(plan, l.acked, now, {
      existing: new Set(tasks.map((t) => t.id)),
      live,
      max: rolloutBudget(job.spec.replicas, job.spec.update).maxRun,
    });
    const out = r.plan;
    const waiting = new Map<string, WaitingOperation>();
    for (const [id, w] of l.waiting) if (w.op === 'restart' && l.unhealthy.has(w.task)) waiting.set(id, w);
    for (const op of r.held) waiting.set(op.id, { ...op, since: l.waiting.get(op.id)?.since ?? now });
    const fresh = r.held.filter((op) => !l.waiting.has(op.id));
    if (fresh.length > 0) {
      const ids = fresh.slice(0, 3).map((op) => op.id);
      out.events.push({
        kind: 'taskcontrol.waiting',
        message: `${fresh.length} operation${fresh.length === 1 ? '' : 's'} wait on the controller of ${job.name}: ${ids.join(', ')}${fresh.length > 3 ? ', ...' : ''}`,
      });
    }
    for (const id of r.proceeding) {
      l.completed.push(id);
      l.acked.delete(id);
    }
    l.waiting = waiting;
    for (const id of l.acked) if (!waiting.has(id)) l.acked.delete(id);
    for (const w of waiting.values()) {
      if (
        w.deadline !== undefined &&
        w.deadline > now &&
        (out.wakeAt === undefined || w.deadline < out.wakeAt)
      )
        out.wakeAt = w.deadline;
    }
    this.#publish(job.name, l);
    this.#maybeCall(job.name, l);
    return out;
  }

  /** What waits on the job's controller now (for tests and status). */
  waiting(job: string): WaitingOperation[] {
    return [...(this.#jobs.get(job)?.waiting.values() ?? [])];
  }

  #news(l: Ledger): string {
    return JSON.stringify([l.notices, [...l.unhealthy.values()]]);
  }

  #maybeCall(job: string, l: Ledger): void {
    if (l.inFlight || this.#abort.signal.aborted) return;
    const pending = [...l.waiting.values()].filter((w) => !l.acked.has(w.id));
    if (l.timer !== undefined) {
      // Waiting to propose the same operations again; new ones go out at once.
      if (l.failures > 0 || pending.every((w) => l.sent.has(w.id))) return;
      clearTimeout(l.timer);
      l.timer = undefined;
    }
    if (pending.length === 0 && l.completed.length === 0 && this.#news(l) === l.sentNews) return;
    l.inFlight = true;
    l.sent = new Set(pending.map((w) => w.id));
    const completed = [...l.completed];
    const news = this.#news(l);
    const request: TaskControlRequest = {
      job,
      sequence: ++l.sequence,
      pending: pending.map(({ since: _since, ...op }) => op),
      notices: l.notices,
      completed,
      unhealthy: [...l.unhealthy.values()],
    };
    const call = this.#o.call ?? callController;
    void call(l.url, request, l.timeoutMs, this.#abort.signal).then((answer) =>
      this.#answered(job, l, answer, completed, news),
    );
  }

  #answered(job: string, l: Ledger, answer: ControllerAnswer, completed: string[], news: string): void {
    l.inFlight = false;
    if (this.#abort.signal.aborted || this.#jobs.get(job) !== l) return;
    let allowed = 0;
    if (answer.ok) {
      l.failures = 0;
      l.lastContact = this.#o.clock.now();
      delete l.lastError;
      l.completed = l.completed.filter((id) => !completed.includes(id));
      l.sentNews = news;
      for (const id of answer.response.ack) {
        if (l.waiting.has(id) && !l.acked.has(id)) {
          l.acked.add(id);
          allowed++;
        }
      }
    } else {
      l.failures++;
      if (l.lastError !== answer.error)
        this.#o.logger.warn({ job, url: l.url, err: answer.error }, 'taskcontrol: controller request failed');
      l.lastError = answer.error;
    }
    this.#publish(job, l);
    if (allowed > 0) this.#o.onAck(job);
    const base = this.#o.retryMs ?? 1000;
    const delay = answer.ok ? base : Math.min(10_000, base * 2 ** Math.min(4, l.failures - 1));
    const stillWaiting = [...l.waiting.keys()].some((id) => !l.acked.has(id));
    if (stillWaiting || !answer.ok) {
      l.timer = setTimeout(() => {
        l.timer = undefined;
        this.#maybeCall(job, l);
      }, delay);
      l.timer.unref();
    }
    // Operations that came while this request was out go at once (#maybeCall sees they are new).
    if (answer.ok) this.#maybeCall(job, l);
  }

  #publish(job: string, l: Ledger): void {
    const state: TaskControlState | undefined =
      l.waiting.size === 0 && l.lastError === undefined
        ? undefined
        : {
            job,
            url: l.url,
            waiting: [...l.waiting.values()],
            sequence: l.sequence,
            ...(l.lastContact === undefined ? {} : { lastContact: l.lastContact }),
            ...(l.lastError === undefined ? {} : { lastError: l.lastError }),
          };
    const key =
      state === undefined
        ? ''
        : JSON.stringify([state.waiting.map((w) => [w.id, w.since, w.deadline, w.reason]), state.lastError]);
    if (key === l.published) return;
    l.published = key;
    this.#o.publish(job, state);
  }
}
