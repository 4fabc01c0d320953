/**
 * Batch jobs (`type: batch`): completions, parallelism, retries with backoff, a deadline and a
 * priority (docs/batch.md).
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import type { BatchSpec } from '../job.ts';
import { DAY, HOUR, SECOND } from './limits.ts';
import type { Ctx, Leaf } from './leaves.ts';
import { addIssue, duration, durationIn, formatMs, integer, leaf, ok, bad } from './leaves.ts';

export const BATCH_LIMITS = {
  completions: { min: 1, max: 10_000 },
  parallelism: { min: 1, max: 10_000 },
  retryLimit: { min: 0, max: 100 },
  deadlineMs: { min: SECOND, max: 30 * DAY },
  priority: { min: 0, max: 1000 },
} as const;

export const BATCH_DEFAULTS = {
  completions: 1,
  parallelism: 1,
  retryLimit: 3,
  backoff: '10s',
  maxBackoff: '5m',
  priority: 0,
} as const;

export const JOB_TYPES = ['service', 'batch'] as const;

export const jobTypeLeaf: Leaf<'service' | 'batch'> = leaf({
  expected: 'service or batch',
  json: {
    type: 'string',
    enum: JOB_TYPES,
    description:
      'service (the default): tasks are kept running. batch: tasks run to completion (completions, parallelism, retries, deadline, priority; see docs/batch.md).',
  },
  parse: (v) => (v === 'service' || v === 'batch' ? ok(v) : bad('is not valid')),
});

export const batchFields = {
  completions: integer(
    'Batch jobs: how many task runs must succeed (exit code 0); the job succeeds when all have. Default 1.',
    BATCH_LIMITS.completions.min,
    BATCH_LIMITS.completions.max,
  ).optional(),
  parallelism: integer(
    'Batch jobs: most tasks running at once. Default 1.',
    BATCH_LIMITS.parallelism.min,
    BATCH_LIMITS.parallelism.max,
  ).optional(),
  retries: z
    .strictObject({
      limit: integer(
        'Failed runs of one completion retried before the job fails.',
        BATCH_LIMITS.retryLimit.min,
        BATCH_LIMITS.retryLimit.max,
        BATCH_DEFAULTS.retryLimit,
      ),
      backoff: duration('Wait before the first retry of a completion; doubles per failure.', 10, HOUR, '10s'),
      maxBackoff: duration('Longest wait before a retry.', 10, DAY, '5m'),
    })
    .meta({ description: 'Batch jobs: retries of failed task runs, with exponential backoff.' })
    .optional(),
  deadline: leaf<number>({
    expected: `a duration from ${formatMs(BATCH_LIMITS.deadlineMs.min)} to ${formatMs(BATCH_LIMITS.deadlineMs.max)}, such as 30m or 2h`,
    json: {
      type: 'string',
      description:
        'Batch jobs: the job fails, and its running tasks are stopped, when it has not finished this long after it started. Absent: no deadline.',
      examples: ['30m', '2h'],
    },
    parse: durationIn(BATCH_LIMITS.deadlineMs.min, BATCH_LIMITS.deadlineMs.max),
  }).optional(),
  priority: integer(
    'Batch jobs: among batch jobs, higher places first and is preempted last (services always come first). Default 0.',
    BATCH_LIMITS.priority.min,
    BATCH_LIMITS.priority.max,
  ).optional(),
};

export interface BatchFieldValues {
  type?: 'service' | 'batch' | undefined;
  completions?: number | undefined;
  parallelism?: number | undefined;
  retries?: { limit: number; backoff: number; maxBackoff: number } | undefined;
  deadline?: number | undefined;
  priority?: number | undefined;
}

const BATCH_ONLY = ['completions', 'parallelism', 'retries', 'deadline', 'priority'] as const;

/**
 * The normalized batch settings of a job file, or undefined for a service. Batch-only fields on a
 * service are refused, each where it is.
 */
export function batchSpecOf(j: BatchFieldValues, ctx: Ctx): BatchSpec | undefined {
  if (j.type !== 'batch') {
    for (const f of BATCH_ONLY) {
      if (j[f] !== undefined)
        addIssue(ctx, j[f], `is only for batch jobs (add "type: batch", or remove it)`, {}, [f]);
    }
    return undefined;
  }
  const completions = j.completions ?? BATCH_DEFAULTS.completions;
  const parallelism = j.parallelism ?? Math.min(completions, BATCH_DEFAULTS.parallelism);
  const retries = j.retries ?? {
    limit: BATCH_DEFAULTS.retryLimit,
    backoff: 10 * SECOND,
    maxBackoff: 5 * 60 * SECOND,
  };
  return {
    completions,
    parallelism,
    retryLimit: retries.limit,
    backoffMs: retries.backoff,
    maxBackoffMs: Math.max(retries.backoff, retries.maxBackoff),
    ...(j.deadline === undefined ? {} : { deadlineMs: j.deadline }),
    priority: j.priority ?? BATCH_DEFAULTS.priority,
  };
}

/** The user form of a batch job's settings (every field spelled out). */
export function batchToUser(b: BatchSpec): Record<string, unknown> {
  return {
    type: 'batch',
    completions: b.completions,
    parallelism: b.parallelism,
    retries: { limit: b.retryLimit, backoff: formatMs(b.backoffMs), maxBackoff: formatMs(b.maxBackoffMs) },
    ...(b.deadlineMs === undefined ? {} : { deadline: formatMs(b.deadlineMs) }),
    priority: b.priority,
  };
}
