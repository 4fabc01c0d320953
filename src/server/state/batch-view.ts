/** A batch job's progress as the API shows it (`JobView.batch`, `JobSummary.batch`). */
import type { BatchStatus, Deployment, JobRecord, TaskRow } from '../../model/index.ts';

export function batchStatus(
  job: JobRecord,
  d: Deployment | undefined,
  rows: readonly TaskRow[],
): BatchStatus | undefined {
  const b = job.spec.batch;
  if (b === undefined) return undefined;
  const p = d?.version === job.version ? d.batch : undefined;
  const state: BatchStatus['state'] =
    job.status === 'stopped' && d?.state !== 'succeeded' && d?.state !== 'failed'
      ? 'stopped'
      : d?.state === 'succeeded' || d?.state === 'failed'
        ? d.state
        : 'running';
  return {
    state,
    completions: b.completions,
    parallelism: b.parallelism,
    priority: b.priority,
    succeeded: p?.succeeded ?? 0,
    failed: p?.failed ?? 0,
    preempted: p?.preempted ?? 0,
    active: rows.filter((r) => r.desired === 'run' && r.version === job.version).length,
    message: d?.message ?? 'starting',
    ...(d?.finishedAt === undefined ? {} : { finishedAt: d.finishedAt }),
  };
}
