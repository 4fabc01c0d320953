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
 *   - name: crash-loops
 *     when: { task: { crashLooping: 3 } }
 *     do: rollback
 *     dryRun: true
 * ```
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../lib/durations.ts';
import { HOST_CONDITION_TYPES } from './host.ts';
import { formatPath } from './job-file.ts';
import { parseYamlFile, checkValue, type RawIssue, type YamlFileResult } from './yaml-file.ts';

/** What a host rule can wait for: a condition the agent reports, or the host being down (no heartbeat). */
export const HOST_RULE_CONDITIONS = [...HOST_CONDITION_TYPES, 'Down'] as const;
export type HostRuleCondition = (typeof HOST_RULE_CONDITIONS)[number];

export const HOST_ACTIONS = ['cordon', 'drain'] as const;
export const TASK_ACTIONS = ['rollback'] as const;

export interface RemediationLimit {
  /** At most this many actions of the rule ... */
  max: number;
  /** ... in any window of this long. */
  perMs: number;
  /** Never more than this percent of a rack's hosts out of placement (cordoned, draining, down) after the action. */
  rackPercent: number;
}

export type RemediationAction = 'cordon' | 'drain' | 'rollback' | { hook: { url: string } };

export interface RemediationRule {
  name: string;
  when: { host: { condition: HostRuleCondition; forMs: number } } | { task: { crashLooping: number } };
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

const DEFAULTS = { for: '5m', limit: { max: 1, per: '30m', rackPercent: 50 } } as const;
const RULE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DAY = 86_400_000;

function duration(description: string, dflt: string, max: number) {
  return z
    .string()
    .meta({ description, examples: ['5m', '30m'] })
    .default(dflt)
    .transform((v, ctx): number => {
      const r = parseDuration(v);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error, input: v });
        return z.NEVER;
      }
      if (r.ms > max) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${formatDuration(max)}`, input: v });
        return z.NEVER;
      }
      return r.ms;
    });
}

const hookSchema = z.strictObject({
  hook: z.strictObject({
    url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }),
  }),
});

const ruleSchema = z
  .strictObject({
    name: z.string().regex(RULE_NAME, 'must be a DNS label: a-z, 0-9 and -, at most 63 characters'),
    when: z
      .strictObject({
        host: z
          .strictObject({
            condition: z.enum(HOST_RULE_CONDITIONS),
            for: duration('How long the condition must have held.', DEFAULTS.for, 7 * DAY),
          })
          .optional(),
        task: z
          .strictObject({
            crashLooping: z.int().min(1).max(1000).meta({ description: 'Restarts while not healthy.' }),
          })
          .optional(),
      })
      .refine((w) => (w.host === undefined) !== (w.task === undefined), {
        message: 'needs exactly one of host or task',
      }),
    do: z.union([z.enum([...HOST_ACTIONS, ...TASK_ACTIONS]), hookSchema], {
      error: 'must be cordon, drain, rollback or { hook: { url } }',
    }),
    limit: z
      .strictObject({
        max: z.int().min(1).max(10_000).default(DEFAULTS.limit.max),
        per: duration('The window the max counts in.', DEFAULTS.limit.per, 7 * DAY),
        rackPercent: z.number().min(0).max(100).default(DEFAULTS.limit.rackPercent),
      })
      .prefault({}),
    dryRun: z.boolean().default(false),
  })
  .transform((r): RemediationRule => ({
    name: r.name,
    when:
      r.when.host !== undefined
        ? { host: { condition: r.when.host.condition, forMs: r.when.host.for } }
        : { task: { crashLooping: r.when.task?.crashLooping ?? 1 } },
    do: r.do,
    limit: { max: r.limit.max, perMs: r.limit.per, rackPercent: r.limit.rackPercent },
    dryRun: r.dryRun,
  }));

export const remediationFileSchema = z.strictObject({ rules: z.array(ruleSchema).max(1000) });

/** Across rules: unique names, and an action that fits what the rule matches. */
function cross(v: RemediationRules): RawIssue[] {
  const out: RawIssue[] = [];
  const seen = new Map<string, number>();
  v.rules.forEach((r, i) => {
    const first = seen.get(r.name);
    if (first !== undefined) {
      const path = ['rules', i, 'name'];
      out.push({
        issue: { path: formatPath(path), message: `"${r.name}" is also the name of rules[${String(first)}]` },
        path,
        atKey: false,
      });
    } else seen.set(r.name, i);
    const onHost = 'host' in r.when;
    const act = typeof r.do === 'string' ? r.do : 'hook';
    const fits = act === 'hook' || (onHost ? act !== 'rollback' : act === 'rollback');
    if (!fits) {
      const path = ['rules', i, 'do'];
      const allowed = onHost ? 'cordon, drain or a hook' : 'rollback or a hook';
      out.push({
        issue: {
          path: formatPath(path),
          message: `"${act}" does not apply to a ${onHost ? 'host' : 'task'} rule: use ${allowed}`,
        },
        path,
        atKey: false,
      });
    }
  });
  return out;
}

/** Parses rules-file text; `file` labels the issues (line:column). */
export function parseRemediationFile(text: string, file: string): YamlFileResult<RemediationRules> {
  return parseYamlFile(text, file, {
    schema: remediationFileSchema,
    what: 'the remediation file',
    needs: 'rules:',
    cross,
  });
}

/** Validates rules that arrived as a JSON value (the API's body). */
export function validateRemediationRules(
  value: unknown,
): { ok: true; rules: RemediationRules } | { ok: false; issues: RawIssue['issue'][] } {
  const r = checkValue(remediationFileSchema, value, cross);
  return r.value === undefined
    ? { ok: false, issues: r.raw.map((x) => x.issue) }
    : { ok: true, rules: r.value };
}

/** A rule in user form (what the API stores and `apply` sends back through validation). */
export function ruleUserForm(r: RemediationRule): Record<string, unknown> {
  return {
    name: r.name,
    when:
      'host' in r.when
        ? { host: { condition: r.when.host.condition, for: formatDuration(r.when.host.forMs) } }
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
