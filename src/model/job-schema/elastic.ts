/**
 * Elastic compute: the job's `pool` and `scaling` (minReplicas, maxReplicas, a daily schedule or a
 * counter of its tasks).
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { MetricScalingSpec, ScalingSpec } from '../job.ts';
import type { Ctx } from './leaves.ts';
import { addIssue, bad, boolean, duration, formatMs, integer, leaf, ok, plainString } from './leaves.ts';

export const poolLeaf = leaf<string>({
  expected: 'a pool name such as online or batch (lowercase letters, digits and -)',
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    maxLength: 63,
    description:
      "The pool of hosts the job's tasks go to (a host's pool is its `pool` label, `online` when it has none; hosts loaned to another pool count there). Absent: any host. See docs/elastic.md.",
    examples: ['online', 'batch'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 63);
    if (!s.ok) return s;
    return NAME_PATTERN.test(s.value) ? s : bad('is not a valid pool name');
  },
});

const TIME = /^([01]\d|2[0-3]):([0-5]\d)$/;

const timeOfDay = leaf<number>({
  expected: 'a time of day in UTC, HH:MM (00:00 to 23:59)',
  json: { type: 'string', pattern: TIME.source, description: 'From this time of day (UTC), HH:MM.' },
  parse: (v) => {
    if (typeof v !== 'string') return bad('must be a string such as "22:00"');
    const m = TIME.exec(v);
    return m === null ? bad('is not a time of day') : ok(Number(m[1]) * 60 + Number(m[2]));
  },
});

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Labels the job itself sets on its tasks' series: `where` cannot change them. */
const JOB_LABELS = ['job', 'namespace'];

const metricName = leaf<string>({
  expected: 'a series name such as hello_requests_total (letters, digits, _ and :)',
  json: {
    type: 'string',
    pattern: METRIC_NAME.source,
    maxLength: 200,
    description: "The series collected from the job's tasks (task.metrics), e.g. hello_requests_total.",
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 200);
    if (!s.ok) return s;
    return METRIC_NAME.test(s.value) ? s : bad('is not a valid series name');
  },
});

const positiveNumber = leaf<number>({
  expected: 'a number above 0, such as 50 or 0.5',
  json: {
    type: 'number',
    exclusiveMinimum: 0,
    description:
      'What one replica should carry: per-second rate of the counter (or value of the gauge) per task.',
  },
  parse: (v) => {
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v)))
      return bad(`is a string; write the number without quotes: ${v.trim()}`);
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad('must be a number');
    return v > 0 ? ok(v) : bad('must be above 0');
  },
});

const whereLeaf = leaf<Record<string, string>>({
  expected: 'a map of label to value, such as { code: "200" }',
  json: {
    type: 'object',
    additionalProperties: { type: 'string' },
    description: "More label matchers (equality), besides the job's own job and namespace labels.",
  },
  parse: (v) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('must be a map of label: value');
    const out: Record<string, string> = {};
    for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
      if (!LABEL_NAME.test(k)) return bad(`has "${k}", which is not a label name (letters, digits and _)`);
      if (JOB_LABELS.includes(k)) return bad(`has "${k}", which the job sets itself; remove it`);
      if (typeof value !== 'string')
        return bad(`has ${k}: ${JSON.stringify(value)}; label values are strings (quote it)`);
      out[k] = value;
    }
    return ok(out);
  },
  default: {},
});

const metricSchema = z
  .strictObject({
    name: metricName,
    where: whereLeaf,
    rate: boolean(
      'Scale on the per-second rate of a counter (true) or on the value of a gauge (false).',
      true,
    ),
    target: positiveNumber,
    window: duration(
      'The window the rate (or the average of a gauge) is taken over.',
      5_000,
      3_600_000,
      '1m',
    ),
    scaleDownDelay: duration(
      'A scale-down follows the highest recommendation of this long before it (flapping damped); scale-ups are at once.',
      0,
      3_600_000,
      '5m',
    ),
  })
  .meta({
    description:
      "Replicas by a counter of the job's tasks: the job's total (rate, or gauge value) divided by target, rounded up, within the bounds. See docs/elastic.md.",
  });

export const scalingSchema = z
  .strictObject({
    minReplicas: integer('Fewest replicas the schedule (or metric) may give.', 0, 10_000),
    maxReplicas: integer('Most replicas the schedule (or metric) may give.', 0, 10_000),
    schedule: z
      .array(
        z.strictObject({
          at: timeOfDay,
          replicas: integer('Replicas from this time until the next entry.', 0, 10_000),
        }),
      )
      .max(48)
      .meta({ description: 'Replicas by time of day (UTC), each entry until the next; wraps at midnight.' })
      .optional(),
    metric: metricSchema.optional(),
  })
  .meta({
    description:
      "The job's replicas follow a daily schedule or a counter of its tasks, within minReplicas and maxReplicas (with neither: replicas, kept within them). See docs/elastic.md.",
  });

type MetricInput = {
  name: string;
  where: Record<string, string>;
  rate: boolean;
  target: number;
  window: number;
  scaleDownDelay: number;
};

export function scalingSpecOf(
  s: {
    minReplicas: number;
    maxReplicas: number;
    schedule?: { at: number; replicas: number }[] | undefined;
    metric?: MetricInput | undefined;
  },
  ctx: Ctx,
): ScalingSpec {
  if (s.minReplicas > s.maxReplicas)
    addIssue(
      ctx,
      s.minReplicas,
      `minReplicas (${s.minReplicas}) is above maxReplicas (${s.maxReplicas})`,
      {},
      ['scaling', 'minReplicas'],
    );
  const schedule = [...(s.schedule ?? [])].sort((a, b) => a.at - b.at);
  for (let i = 1; i < schedule.length; i++) {
    if (schedule[i]?.at === schedule[i - 1]?.at)
      addIssue(ctx, s.schedule, 'has two entries for the same time', {}, ['scaling', 'schedule']);
  }
  if (s.metric !== undefined && schedule.length > 0)
    addIssue(
      ctx,
      s.metric,
      'cannot be used with a schedule: the replicas follow one or the other; remove one of them',
      {},
      ['scaling', 'metric'],
    );
  const metric: MetricScalingSpec | undefined =
    s.metric === undefined
      ? undefined
      : {
          name: s.metric.name,
          where: s.metric.where,
          rate: s.metric.rate,
          target: s.metric.target,
          windowMs: s.metric.window,
          scaleDownDelayMs: s.metric.scaleDownDelay,
        };
  return {
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    schedule,
    ...(metric === undefined ? {} : { metric }),
  };
}

/** Minutes after midnight as HH:MM. */
function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The user form of `scaling`. */
export function scalingToUser(s: ScalingSpec): Record<string, unknown> {
  const m = s.metric;
  return {
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    schedule: s.schedule.map((e) => ({ at: hhmm(e.at), replicas: e.replicas })),
    ...(m === undefined
      ? {}
      : {
          metric: {
            name: m.name,
            where: m.where,
            rate: m.rate,
            target: m.target,
            window: formatMs(m.windowMs),
            scaleDownDelay: formatMs(m.scaleDownDelayMs),
          },
        }),
  };
}
