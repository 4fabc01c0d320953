/**
 * Auto-remediation (FBAR): rules that match a host or task condition to an action, each with a rate
 * limit and a dry-run switch, and the log of what ran and why. The rules file is one YAML document
 * for the cluster (`dabba remediation apply FILE`); see docs/remediation.md.
 *
 * ```yaml
 * rules:
 *   - name: full-disks
 *     when: { host: { condition: DiskFull, for: 5m } }
 *     do: drain
 *     limit: { max: 1, per: 30m, rackPercent: 50 }
 *   - name: broken-runtimes
 *     when: { host: { condition: RuntimeBroken, for: 2m } }
 *     do: restart-runtime
 *   - name: crash-loops
 *     when: { task: { crashLooping: 3 } }
 *     do: rollback
 *     dryRun: true
 *   - name: error-bursts
 *     when: { counter: { name: hello_errors_total, above: 5, for: 5m } }
 *     do: rollback
 * ```
 *
 * The rules file's parser (zod, yaml) is in remediation-file.ts, a part of `model/files.ts`.
 */
import { formatDuration } from '../lib/durations.ts';
import { HOST_CONDITION_TYPES } from './host.ts';

/** What a host rule can wait for: a condition the agent reports, or the host being down (no heartbeat). */
export const HOST_RULE_CONDITIONS = [...HOST_CONDITION_TYPES, 'Down'] as const;
export type HostRuleCondition = (typeof HOST_RULE_CONDITIONS)[number];

export const HOST_ACTIONS = ['cordon', 'drain', 'restart-runtime'] as const;
export const TASK_ACTIONS = ['rollback'] as const;

export interface RemediationLimit {
  /** At most this many actions of the rule ... */
  max: number;
  /** ... in any window of this long. */
  perMs: number;
  /** Never more than this percent of a rack's hosts out of placement (cordoned, draining, down) after the action. */
  rackPercent: number;
}

export type RemediationAction =
  'cordon' | 'drain' | 'restart-runtime' | 'rollback' | { hook: { url: string } };

/**
 * A counter over a bound (telemetry): the series summed per job (or per host) over its tasks, its
 * per-second rate (a counter) or value (a gauge), above `above` at every step of the last `forMs`.
 */
export interface CounterCondition {
  name: string;
  where: Record<string, string>;
  rate: boolean;
  above: number;
  forMs: number;
  /** What a match is: a job (actions rollback, hook) or a host (cordon, drain, restart-runtime, hook). */
  per: 'job' | 'host';
}

export interface RemediationRule {
  name: string;
  when:
    | { host: { condition: HostRuleCondition; forMs: number } }
    | { task: { crashLooping: number } }
    | { counter: CounterCondition };
  do: RemediationAction;
  limit: RemediationLimit;
  dryRun: boolean;
}

export interface RemediationRules {
  rules: RemediationRule[];
}

/** What `GET /v1/remediation` answers: the rules in force (null: none applied yet). */
export interface RemediationRulesView {
  version: number;
  rules: RemediationRules | null;
  message: string;
  author: string;
  at: number;
}

/** One line of `dabba remediation log`: an action taken, one only logged (dry run), or one held back. */
export interface RemediationRecord {
  id: string;
  at: number;
  rule: string;
  /** `host:ID` or `job:NAMESPACE/NAME`. */
  target: string;
  action: string;
  outcome: 'done' | 'dry-run' | 'rate-limited' | 'failed';
  /** Why the rule matched, in words (the condition and since when). */
  reason: string;
  /** For rate-limited and failed: what held it back, or the error. */
  detail?: string;
}

/** A rule in user form (what the API stores and `apply` sends back through validation). */
export function ruleUserForm(r: RemediationRule): Record<string, unknown> {
  return {
    name: r.name,
    when:
      'host' in r.when
        ? { host: { condition: r.when.host.condition, for: formatDuration(r.when.host.forMs) } }
        : 'counter' in r.when
          ? {
              counter: {
                name: r.when.counter.name,
                where: r.when.counter.where,
                rate: r.when.counter.rate,
                above: r.when.counter.above,
                for: formatDuration(r.when.counter.forMs),
                per: r.when.counter.per,
              },
            }
          : { task: { crashLooping: r.when.task.crashLooping } },
    do: r.do,
    limit: { max: r.limit.max, per: formatDuration(r.limit.perMs), rackPercent: r.limit.rackPercent },
    dryRun: r.dryRun,
  };
}

/** The action's name in logs and events. */
export function actionName(a: RemediationAction): string {
  return typeof a === 'string' ? a : `hook ${a.hook.url}`;
}
