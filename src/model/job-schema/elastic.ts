/**
 * Elastic compute: the job's `pool` and `scaling` (minReplicas, maxReplicas, a daily schedule).
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { ScalingSpec } from '../job.ts';
import type { Ctx } from './leaves.ts';
import { addIssue, bad, integer, leaf, ok, plainString } from './leaves.ts';

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

export const scalingSchema = z
  .strictObject({
    minReplicas: integer('Fewest replicas the schedule may give.', 0, 10_000),
    maxReplicas: integer('Most replicas the schedule may give.', 0, 10_000),
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
  })
  .meta({
    description:
      "The job's replicas follow a daily schedule, within minReplicas and maxReplicas (without a schedule: replicas, kept within them). See docs/elastic.md.",
  });

export function scalingSpecOf(
  s: { minReplicas: number; maxReplicas: number; schedule?: { at: number; replicas: number }[] | undefined },
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
  return { minReplicas: s.minReplicas, maxReplicas: s.maxReplicas, schedule };
}

/** Minutes after midnight as HH:MM. */
function hhmm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The user form of `scaling`. */
export function scalingToUser(s: ScalingSpec): Record<string, unknown> {
  return {
    minReplicas: s.minReplicas,
    maxReplicas: s.maxReplicas,
    schedule: s.schedule.map((e) => ({ at: hhmm(e.at), replicas: e.replicas })),
  };
}
