/**
 * Draining hosts: which tasks must move off, when a drain is forced, and how far a drain has got.
 *
 * A host in state 'draining' takes no new tasks (the allocator's host-state filter). `reconcile`
 * moves each job's tasks off it like a rolling update moves old tasks: a replacement is placed
 * elsewhere first (within maxSurge), and the task on the draining host is stopped only while the
 * job keeps at least replicas - maxUnavailable available. From the host's `drainDeadline` on, the
 * tasks left on it are stopped regardless (forced).
 */
import { formatDuration } from '../lib/durations.ts';
import type { HostView, Task } from '../model/index.ts';
import type { HostLookup } from './types.ts';

/** The draining host a task is on, or undefined when its host is not draining. */
export function drainingHost(
  task: Pick<Task, 'host'>,
  hosts: HostLookup,
  now?: number,
): HostView | undefined {
  if (task.host === null) return undefined;
  const host = hosts.get(task.host);
  if (host?.state === 'draining') return host;
  // A host in maintenance drains from its start on (without `now`: as soon as it is announced).
  if (host?.state === 'maintenance' && (now === undefined || now >= (host.maintenance?.start ?? 0)))
    return host;
  return undefined;
}

/** True when the host is draining and its deadline has come: its tasks are stopped regardless. */
export function drainForced(host: Pick<HostView, 'state' | 'drainDeadline'>, now: number): boolean {
  return (
    (host.state === 'draining' || host.state === 'maintenance') &&
    host.drainDeadline !== undefined &&
    now >= host.drainDeadline
  );
}

export interface DrainProgress {
  host: string;
  /** 'drained': draining and nothing left on it; 'not-draining': the host is not draining. */
  state: 'draining' | 'drained' | 'not-draining';
  /** Tasks of any job still assigned to the host (to move, or stopping). */
  left: number;
  /** ... of which still have desired 'run' (waiting for a replacement or for the budget). */
  toMove: number;
  /** ... of which are stopping (desired 'stop', their process not yet gone). */
  stopping: number;
  deadline?: number;
  /** The deadline has passed: what is left is being stopped regardless. */
  forced: boolean;
  /** "draining: 3 tasks left (2 to move, 1 stopping), deadline in 4m", "drained". */
  message: string;
}

/**
 * How far a host's drain has got, for `dabba hosts` and the API. `tasks` may be every task record
 * (any job): those on other hosts are ignored. A task is left on the host until its record is
 * removed (after its agent reports it stopped). `state` is the host's administrative state (the
 * record's `schedulable`, or the view's state).
 */
export function drainProgress(
  host: { id: string; state: string; drainDeadline?: number | undefined },
  tasks: Iterable<Pick<Task, 'host' | 'desired'>>,
  now?: number,
): DrainProgress {
  let toMove = 0;
  let stopping = 0;
  for (const t of tasks) {
    if (t.host !== host.id) continue;
    if (t.desired === 'run') toMove++;
    else stopping++;
  }
  const left = toMove + stopping;
  const draining = host.state === 'draining';
  const deadline = draining ? host.drainDeadline : undefined;
  const forced = deadline !== undefined && now !== undefined && now >= deadline;
  const out: DrainProgress = {
    host: host.id,
    state: !draining ? 'not-draining' : left === 0 ? 'drained' : 'draining',
    left,
    toMove,
    stopping,
    forced,
    message: '',
  };
  if (deadline !== undefined) out.deadline = deadline;
  if (out.state === 'not-draining') out.message = `not draining (${plural(left, 'task')})`;
  else if (out.state === 'drained') out.message = 'drained';
  else {
    const parts = [`${toMove} to move`, `${stopping} stopping`].filter((p) => !p.startsWith('0 '));
    let msg = `draining: ${plural(left, 'task')} left (${parts.join(', ')})`;
    if (forced) msg += ', deadline passed: stopping them';
    else if (deadline !== undefined && now !== undefined)
      msg += `, deadline in ${formatDuration(deadline - now)}`;
    out.message = msg;
  }
  return out;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
