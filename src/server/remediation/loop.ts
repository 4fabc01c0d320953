/**
 * The remediation loop: on the replica that owns the broker shard, every interval, reads the rules,
 * the hosts and the jobs' tasks, asks the pure decision (src/remediation) what to do, does it, and
 * writes one record per decision (and an event for each action taken) — every write fenced on the
 * broker shard, so a replica that lost it writes nothing.
 */
import { isStorageError, messageOf } from '../../errors/index.ts';
import { sleep, type Clock, type Logger } from '../../lib/index.ts';
import {
  keys,
  type RemediationRecord,
  type RemediationRule,
  type TaskRecord,
  type TaskStatus,
} from '../../model/index.ts';
import {
  counterFacts,
  counterGroups,
  counterSpan,
  evaluate,
  type CounterFacts,
  type Decision,
  type HostFacts,
  type JobFacts,
} from '../../remediation/index.ts';
import type { MetricsReader } from '../autoscaler.ts';
import type { Store } from '../../store/index.ts';
import { BROKER, type Replica } from '../shards/index.ts';
import type { EventLog } from '../state/events.ts';
import { hostViews } from '../state/views.ts';
import { rangeJson } from '../state/json.ts';
import type { JobRecord } from '../../model/index.ts';
import { act } from './actions.ts';
import { newRecord, readLog, readRules } from './rules-store.ts';

export interface RemediationLoopOptions {
  store: Store;
  replica: Replica;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  /** How often the rules are evaluated (ms). */
  intervalMs: number;
  /** Records kept (the oldest beyond are deleted). */
  keepRecords?: number;
  /** How long an agent has to answer a restart-runtime (ms, default 60,000). */
  restartRuntimeTimeoutMs?: number;
  /** The time series, for counter rules (without it they never match; each round logs a warning saying so). */
  read?: MetricsReader;
}

/** Counter rules' readings (rule name -> readings); a rule that cannot be read gets none this round. */
async function counterReadings(
  o: RemediationLoopOptions,
  rules: readonly RemediationRule[],
  now: number,
): Promise<Map<string, CounterFacts[]>> {
  const out = new Map<string, CounterFacts[]>();
  for (const rule of rules) {
    if (!('counter' in rule.when)) continue;
    const c = rule.when.counter;
    if (o.read === undefined) {
      o.logger.warn(
        { rule: rule.name },
        'a counter rule, but this server keeps no time series: it never matches',
      );
      continue;
    }
    const span = counterSpan(c, now);
    try {
      const series = await o.read(
        {
          name: c.name,
          matchers: Object.entries(c.where).map(([label, value]) => ({ label, op: '=' as const, value })),
          ...span,
          ...(c.rate ? { rate: true } : { over: 'avg' as const }),
          agg: 'sum',
          by: counterGroups(c),
        },
        AbortSignal.timeout(10_000),
      );
      out.set(rule.name, counterFacts(c, series, span));
    } catch (e) {
      o.logger.warn({ rule: rule.name, err: messageOf(e) }, 'counter rule not read this round');
    }
  }
  return out;
}

/** Hosts seen down, and since when (observed by this replica; restarts begin again). */
const downSince = new Map<string, number>();

async function facts(store: Store, now: number): Promise<{ hosts: HostFacts[]; jobs: JobFacts[] }> {
  const [views, jobs, tasks, statuses] = await Promise.all([
    hostViews(store, now),
    rangeJson<JobRecord>(store, keys.jobsPrefix),
    // Task records as stored: the facts need no spec (model/task-record.ts).
    rangeJson<TaskRecord>(store, keys.tasksPrefix),
    rangeJson<TaskStatus>(store, keys.statusPrefix),
  ]);
  const hosts = views.map((h): HostFacts => {
    if (h.state === 'down') {
      if (!downSince.has(h.id)) downSince.set(h.id, now);
    } else downSince.delete(h.id);
    const since = downSince.get(h.id);
    return {
      id: h.id,
      state: h.state,
      labels: h.labels,
      ...(h.conditions === undefined ? {} : { conditions: h.conditions }),
      ...(since === undefined ? {} : { downSince: since }),
    };
  });
  const status = new Map(statuses.map((s) => [s.id, s]));
  const byJob = new Map<string, JobFacts['tasks'][number][]>();
  for (const t of tasks) {
    const s = status.get(t.id);
    const list = byJob.get(t.job) ?? [];
    list.push({
      id: t.id,
      version: t.version,
      desired: t.desired,
      healthy: s?.healthy ?? false,
      restarts: s?.restarts ?? 0,
    });
    byJob.set(t.job, list);
  }
  return {
    hosts,
    jobs: jobs.map((j) => ({ id: j.name, version: j.version, tasks: byJob.get(j.name) ?? [] })),
  };
}

/** One round: evaluate and act; returns the records written. */
export async function remediateOnce(o: RemediationLoopOptions): Promise<RemediationRecord[]> {
  const fence = o.replica.fenceForShard(BROKER);
  if (fence === undefined) return [];
  const { rules } = await readRules(o.store);
  if (rules === null || rules.rules.length === 0) return [];
  const now = o.clock.now();
  const longest = Math.max(...rules.rules.map((r) => r.limit.perMs));
  const [state, history, counters] = await Promise.all([
    facts(o.store, now),
    readLog(o.store, now - Math.max(longest, 86_400_000)),
    counterReadings(o, rules.rules, now),
  ]);
  const decisions = evaluate(rules.rules, { now, ...state, history, counters });
  const written: RemediationRecord[] = [];
  for (const d of decisions) {
    const record = await run(o, d);
    const r = await o.store.txn({
      compare: fence.compares,
      success: [
        { type: 'put', key: keys.remediationRecord(record.at, record.id), value: JSON.stringify(record) },
      ],
    });
    if (!r.succeeded) break; // the broker shard moved: the new owner decides from here
    written.push(record);
    const line = { rule: record.rule, target: record.target, action: record.action, outcome: record.outcome };
    if (record.outcome === 'failed') o.logger.error({ ...line, detail: record.detail }, 'remediation failed');
    else o.logger.info({ ...line, reason: record.reason, detail: record.detail }, 'remediation');
  }
  return written;
}

async function run(o: RemediationLoopOptions, d: Decision): Promise<RemediationRecord> {
  const base = { rule: d.rule.name, target: d.target, action: d.action, reason: d.reason };
  if (d.outcome !== 'act') {
    return newRecord(o.clock, {
      ...base,
      outcome: d.outcome,
      ...(d.detail === undefined ? {} : { detail: d.detail }),
    });
  }
  try {
    const detail = await act(o, d);
    return newRecord(o.clock, { ...base, outcome: 'done', ...(detail === undefined ? {} : { detail }) });
  } catch (e) {
    return newRecord(o.clock, { ...base, outcome: 'failed', detail: messageOf(e) });
  }
}

/** Runs rounds while this replica owns the broker shard, until the signal aborts. */
export async function runRemediation(o: RemediationLoopOptions, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sleep(o.intervalMs, signal).catch(() => undefined);
    if (signal.aborted) break;
    try {
      await remediateOnce(o);
    } catch (e) {
      if (!signal.aborted && !isStorageError(e))
        o.logger.warn({ err: messageOf(e) }, 'remediation round failed');
    }
  }
}
