/**
 * The remediation rules file (remediation.ts has its types): its schema, parsed from YAML text or
 * checked as a JSON value, with every problem at once and where it is. Part of `model/files.ts`.
 */
import { z } from 'zod';
import { formatDuration, parseDuration } from '../lib/durations.ts';
import { formatPath } from './job-file.ts';
import {
  HOST_ACTIONS,
  HOST_RULE_CONDITIONS,
  TASK_ACTIONS,
  type RemediationRule,
  type RemediationRules,
} from './remediation.ts';
import { parseYamlFile, checkValue, type RawIssue, type YamlFileResult } from './yaml-file.ts';

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

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const counterSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a series name (letters, digits, _ and :)')
    .meta({ description: 'The series, as collected from tasks and hosts.' }),
  where: z
    .record(z.string().regex(LABEL, 'must be a label name (letters, digits and _)'), z.string())
    .default({})
    .meta({ description: 'More label matchers (equality).' }),
  rate: z
    .boolean()
    .default(true)
    .meta({ description: 'Per-second rate of a counter (true) or value of a gauge.' }),
  above: z.number().meta({ description: 'The bound: the rule matches while the value is above it.' }),
  for: duration('How long the value must have stayed above the bound.', DEFAULTS.for, 7 * DAY),
  per: z.enum(['job', 'host']).default('job').meta({ description: 'A match is a job, or a host.' }),
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
        counter: counterSchema.optional(),
      })
      .refine((w) => [w.host, w.task, w.counter].filter((x) => x !== undefined).length === 1, {
        message: 'needs exactly one of host, task or counter',
      }),
    do: z.union([z.enum([...HOST_ACTIONS, ...TASK_ACTIONS]), hookSchema], {
      error: 'must be cordon, drain, restart-runtime, rollback or { hook: { url } }',
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
        : r.when.counter !== undefined
          ? {
              counter: {
                name: r.when.counter.name,
                where: r.when.counter.where,
                rate: r.when.counter.rate,
                above: r.when.counter.above,
                forMs: r.when.counter.for,
                per: r.when.counter.per,
              },
            }
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
    const onHost = 'host' in r.when || ('counter' in r.when && r.when.counter.per === 'host');
    const act = typeof r.do === 'string' ? r.do : 'hook';
    const fits = act === 'hook' || (onHost ? act !== 'rollback' : act === 'rollback');
    if (!fits) {
      const path = ['rules', i, 'do'];
      const allowed = onHost ? 'cordon, drain, restart-runtime or a hook' : 'rollback or a hook';
      out.push({
        issue: {
          path: formatPath(path),
          message: `"${act}" does not apply to a ${onHost ? 'host' : 'counter' in r.when ? 'per-job counter' : 'task'} rule: use ${allowed}`,
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
