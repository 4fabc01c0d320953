/**
 * The user-facing job file (YAML or JSON) as one zod schema, put together here from its parts in
 * job-schema/ (limits, leaves, task fields, task, update and placement). Its input is what people write
 * (`memory: 64Mi`, `interval: 2s`, `cpu: "250m"`); its output is the normalized `JobSpec` (bytes,
 * milliseconds, cores). schema/job.schema.json is generated from it (`npm run schema`), and
 * docs/job-file.md documents it: keep the three in step.
 *
 * Leaves are parsed by hand (z.unknown() + transform) so every error carries a precise message and
 * `params.expected`; their JSON Schema comes from `.meta()`. Cross-field checks run as soon as the
 * fields they read are valid, so one pass reports every problem.
 */
import { z } from 'zod';
import type { JobSpec } from './job.ts';
import { JOB_DEFAULTS, JOB_LIMITS } from './job-schema/limits.ts';
import { formatMs, integer } from './job-schema/leaves.ts';
import { nameLeaf } from './job-schema/task-fields.ts';
import { taskSchema } from './job-schema/task.ts';
import { batchFields, batchSpecOf, jobTypeLeaf } from './job-schema/batch.ts';
import { poolLeaf, scalingSchema, scalingSpecOf } from './job-schema/elastic.ts';
import {
  namespaceLeaf,
  placementSchema,
  taskControlSchema,
  updateSchema,
} from './job-schema/update-placement.ts';
export {
  ATTRIBUTE_PATTERN,
  ENV_NAME_PATTERN,
  JOB_DEFAULTS,
  JOB_LIMITS,
  PORT_NAME_PATTERN,
  PORT_PROTOCOLS,
  RESTART_POLICIES,
} from './job-schema/limits.ts';
export type { JobIssueParams } from './job-schema/limits.ts';
export { closest, editDistance } from './job-schema/leaves.ts';

// ---------------------------------------------------------------------------------------------
// The job file.

export const jobFileSchema = z
  .strictObject({
    $schema: z
      .string()
      .meta({ description: 'URL or path of this JSON Schema, for editors; ignored by Dabba.' })
      .optional(),
    name: nameLeaf,
    namespace: namespaceLeaf.optional(),
    replicas: integer(
      'Number of tasks to run.',
      JOB_LIMITS.replicas.min,
      JOB_LIMITS.replicas.max,
      JOB_DEFAULTS.replicas,
    ),
    task: taskSchema,
    update: updateSchema,
    placement: placementSchema,
    taskControl: taskControlSchema.optional(),
    type: jobTypeLeaf.optional(),
    ...batchFields,
    pool: poolLeaf.optional(),
    scaling: scalingSchema.optional(),
  })
  .meta({
    title: 'Dabba job',
    description:
      'A Dabba job: a service of identical tasks, or a batch job whose tasks run to completion. See docs/job-file.md.',
  })
  .transform((j, ctx): JobSpec => {
    const batch = batchSpecOf(j, ctx);
    return {
      name: j.name,
      // Left out when it is the default, so specs stored before namespaces existed compare equal.
      ...(j.namespace === undefined || j.namespace === 'default' ? {} : { namespace: j.namespace }),
      // A batch job's tasks run once each; retries are the scheduler's (docs/batch.md).
      replicas: batch === undefined ? j.replicas : batch.parallelism,
      task: batch === undefined ? j.task : { ...j.task, restart: { ...j.task.restart, policy: 'never' } },
      update: j.update,
      placement: j.placement,
      ...(j.taskControl === undefined ? {} : { taskControl: j.taskControl }),
      ...(batch === undefined ? {} : { batch }),
      ...(j.pool === undefined ? {} : { pool: j.pool }),
      ...(j.scaling === undefined ? {} : { scaling: scalingSpecOf(j.scaling, ctx) }),
    };
  });

export type JobFileInput = z.input<typeof jobFileSchema>;

// Compile-time check: the schema's output is exactly the normalized JobSpec.
type Assert<T extends true> = T;
type _OutputIsJobSpec = Assert<z.output<typeof jobFileSchema> extends JobSpec ? true : false>;
type _JobSpecIsOutput = Assert<JobSpec extends z.output<typeof jobFileSchema> ? true : false>;

/** JSON Schema of the user form (what editors complete against), as in schema/job.schema.json. */
export function jobJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(jobFileSchema, { io: 'input', target: 'draft-2020-12' });
}

/** The exact text of schema/job.schema.json. */
export function jobSchemaFileText(): string {
  return `${JSON.stringify(jobJsonSchema(), null, 2)}\n`;
}

/** Exact user-form spellings used by toUserForm (so that they parse back to the same numbers). */
export function formatExactDuration(ms: number): string {
  return formatMs(ms);
}
