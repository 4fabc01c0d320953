/**
 * The remediation decision (pure: state in, decisions out; the clock is the state's `now`). For each
 * rule, the targets whose condition holds (a host condition held for the rule's `for`; a job whose
 * current version has a task crash-looping; a job or host whose counter stayed above a bound for the
 * rule's `for`), minus those already handled in this episode; then the
 * rate limits, in rule order: at most `max` actions of the rule in any `per` window (counting past
 * records and this round's), and never more than `rackPercent` of a rack out of placement. A target
 * held back is logged once per episode as rate-limited and tried again on later rounds.
 */
import type { HostCondition, HostState, RemediationRecord, RemediationRule } from '../model/index.ts';
import { actionName } from '../model/index.ts';

export interface HostFacts {
  id: string;
  state: HostState;
  labels: Readonly<Record<string, string>>;
  conditions?: readonly HostCondition[];
  /** Since when the host has been seen down (no heartbeat), by whoever observes it. */
  downSince?: number;
}

export interface TaskFacts {
  id: string;
  version: number;
  desired: 'run' | 'stop';
  healthy: boolean;
  restarts: number;
}

export interface JobFacts {
  /** The job id: `NAME` or `NAMESPACE/NAME`. */
  id: string;
  version: number;
  tasks: readonly TaskFacts[];
}

/**
 * A counter rule's reading: per job (its id) or per host, the series over the rule's `for`; `over`
 * when every step with a point was above the bound and the points cover the span (read by the
 * server from the time series, counters.ts there).
 */
export interface CounterFacts {
  /** A job id (per job) or a host id (per host). */
  key: string;
  over: boolean;
  /** The newest value, and the lowest in the span (said in the reason). */
  last: number;
  lowest: number;
  /** The first point of the span. */
  since: number;
}

export interface RemediationState {
  now: number;
  hosts: readonly HostFacts[];
  jobs: readonly JobFacts[];
  /** Rule name -> its counter readings (counter rules only; absent: no reading, no match). */
  counters?: ReadonlyMap<string, readonly CounterFacts[]>;
  /** Past records, any order (those older than every rule's window may be left out). */
  history: readonly RemediationRecord[];
}

export interface Decision {
  rule: RemediationRule;
  /** `host:ID` or `job:ID@vN`. */
  target: string;
  /** The host to act on (host rules), or the job (task rules). */
  host?: string;
  job?: string;
  action: string;
  outcome: 'act' | 'dry-run' | 'rate-limited';
  reason: string;
  detail?: string;
}

interface Match {
  target: string;
  host?: HostFacts;
  job?: string;
  reason: string;
  /** When the episode began: records since then count as handling it. */
  since: number;
}

const OUT_OF_PLACEMENT: readonly HostState[] = ['cordoned', 'draining', 'maintenance', 'down'];

function hostMatches(rule: RemediationRule, hosts: readonly HostFacts[], now: number): Match[] {
  if (!('host' in rule.when)) return [];
  const { condition, forMs } = rule.when.host;
  const out: Match[] = [];
  for (const h of hosts) {
    let since: number | undefined;
    let what = '';
    if (condition === 'Down') {
      if (h.state === 'down' && h.downSince !== undefined) {
        since = h.downSince;
        what = 'down (no heartbeat)';
      }
    } else {
      const c = h.conditions?.find((x) => x.type === condition);
      if (c !== undefined) {
        since = c.since;
        what = `${condition}: ${c.message}`;
      }
    }
    if (since === undefined || now - since < forMs) continue;
    // Nothing left to do: the host is already where the action would put it.
    if (rule.do === 'cordon' && h.state !== 'ready') continue;
    if (rule.do === 'drain' && (h.state === 'draining' || h.state === 'maintenance')) continue;
    // An agent that does not heartbeat cannot be asked to restart its runtime.
    if (rule.do === 'restart-runtime' && h.state === 'down') continue;
    const held = Math.round((now - since) / 1000);
    out.push({ target: `host:${h.id}`, host: h, reason: `host ${h.id} ${what} (for ${held}s)`, since });
  }
  return out;
}

function jobMatches(rule: RemediationRule, jobs: readonly JobFacts[]): Match[] {
  if (!('task' in rule.when)) return [];
  const threshold = rule.when.task.crashLooping;
  const out: Match[] = [];
  for (const j of jobs) {
    const looping = j.tasks.filter(
      (t) => t.desired === 'run' && t.version === j.version && !t.healthy && t.restarts >= threshold,
    );
    const first = looping[0];
    if (first === undefined) continue;
    const more = looping.length > 1 ? ` and ${looping.length - 1} more` : '';
    out.push({
      target: `job:${j.id}@v${j.version}`,
      job: j.id,
      reason: `job ${j.id} version ${j.version}: task ${first.id}${more} crash-looping (${first.restarts} restarts, not healthy)`,
      since: 0,
    });
  }
  return out;
}

function counterMatches(rule: RemediationRule, s: RemediationState): Match[] {
  if (!('counter' in rule.when)) return [];
  const c = rule.when.counter;
  const out: Match[] = [];
  const what = `${c.name}${c.rate ? ' rate' : ''}`;
  for (const f of s.counters?.get(rule.name) ?? []) {
    if (!f.over) continue;
    const held = Math.round((s.now - f.since) / 1000);
    const reason = `${what} of ${c.per} ${f.key} above ${c.above} for ${held}s (now ${f.last.toFixed(2)}, lowest ${f.lowest.toFixed(2)})`;
    if (c.per === 'host') {
      const h = s.hosts.find((x) => x.id === f.key);
      if (h === undefined) continue;
      if (rule.do === 'cordon' && h.state !== 'ready') continue;
      if (rule.do === 'drain' && (h.state === 'draining' || h.state === 'maintenance')) continue;
      if (rule.do === 'restart-runtime' && h.state === 'down') continue;
      out.push({ target: `host:${h.id}`, host: h, reason, since: f.since });
    } else {
      const j = s.jobs.find((x) => x.id === f.key);
      if (j === undefined) continue;
      out.push({ target: `job:${j.id}@v${j.version}`, job: j.id, reason, since: f.since });
    }
  }
  return out;
}

/** Records of the rule for the target since the episode began: the latest time of each outcome. */
function handled(history: readonly RemediationRecord[], rule: string, m: Match): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of history) {
    if (r.rule === rule && r.target === m.target && r.at >= m.since) {
      out.set(r.outcome, Math.max(out.get(r.outcome) ?? 0, r.at));
    }
  }
  return out;
}

/** A failed action is tried again after this long (not on every round). */
export const RETRY_FAILED_MS = 5 * 60_000;

export function evaluate(rules: readonly RemediationRule[], s: RemediationState): Decision[] {
  const decisions: Decision[] = [];
  const outNow = new Set(s.hosts.filter((h) => OUT_OF_PLACEMENT.includes(h.state)).map((h) => h.id));
  for (const rule of rules) {
    const action = actionName(rule.do);
    let recent = s.history.filter(
      (r) => r.rule === rule.name && r.outcome === 'done' && r.at > s.now - rule.limit.perMs,
    ).length;
    const matches = [
      ...hostMatches(rule, s.hosts, s.now),
      ...jobMatches(rule, s.jobs),
      ...counterMatches(rule, s),
    ];
    for (const m of matches) {
      const seen = handled(s.history, rule.name, m);
      if (seen.has('done') || (rule.dryRun && seen.has('dry-run'))) continue;
      if (s.now - (seen.get('failed') ?? -Infinity) < RETRY_FAILED_MS) continue;
      const base = {
        rule,
        target: m.target,
        ...(m.host === undefined ? {} : { host: m.host.id }),
        ...(m.job === undefined ? {} : { job: m.job }),
        action,
        reason: m.reason,
      };
      if (rule.dryRun) {
        decisions.push({ ...base, outcome: 'dry-run' });
        continue;
      }
      const held =
        recent >= rule.limit.max
          ? `${recent} action${recent === 1 ? '' : 's'} of this rule in the last ${Math.round(rule.limit.perMs / 60_000)} min (max ${rule.limit.max})`
          : m.host === undefined
            ? undefined
            : rackLimit(rule, m.host, s.hosts, outNow);
      if (held !== undefined) {
        if (!seen.has('rate-limited')) decisions.push({ ...base, outcome: 'rate-limited', detail: held });
        continue;
      }
      recent++;
      if (m.host !== undefined && (rule.do === 'cordon' || rule.do === 'drain')) outNow.add(m.host.id);
      decisions.push({ ...base, outcome: 'act' });
    }
  }
  return decisions;
}

/** Why acting on `host` would take too much of its rack out, or undefined. Hosts without a rack: no limit. */
function rackLimit(
  rule: RemediationRule,
  host: HostFacts,
  hosts: readonly HostFacts[],
  outNow: ReadonlySet<string>,
): string | undefined {
  if (rule.do !== 'cordon' && rule.do !== 'drain') return undefined;
  const rack = host.labels['rack'];
  if (rack === undefined) return undefined;
  const members = hosts.filter((h) => h.labels['rack'] === rack);
  const out = members.filter((h) => outNow.has(h.id) || h.id === host.id).length;
  const percent = (out / members.length) * 100;
  if (percent <= rule.limit.rackPercent) return undefined;
  return `it would take ${out} of the ${members.length} hosts of rack ${rack} out of placement (${Math.round(percent)}% > ${rule.limit.rackPercent}%)`;
}
