/** Choosing the version an automatic rollback goes back to. */
import type { Deployment, JobRecord, JobVersionRecord } from '../model/index.ts';
import { sameSpec } from './spec-equal.ts';

export type RollbackChoice = { version: number } | { none: string };

/**
 * The newest version older than the current one that is known good: `lastGoodVersion` when the
 * caller gives one (and it is older than the current version), else the newest older version
 * whose deployment record says 'succeeded'. Its spec must be in `versions`, and must differ from
 * the current spec (a failed rollback must not roll back to itself again and again).
 */
export function chooseRollback(
  job: JobRecord,
  versions: readonly JobVersionRecord[],
  deployments: readonly Deployment[],
  lastGoodVersion: number | undefined,
): RollbackChoice {
  let target = lastGoodVersion !== undefined && lastGoodVersion < job.version ? lastGoodVersion : undefined;
  if (target === undefined) {
    for (const d of deployments) {
      if (
        d.state === 'succeeded' &&
        d.version < job.version &&
        (target === undefined || d.version > target)
      ) {
        target = d.version;
      }
    }
  }
  if (target === undefined) return { none: `no version before v${job.version} is known good` };
  const record = versions.find((v) => v.version === target);
  if (record === undefined)
    return { none: `v${target} (the last good version) is not in the version history` };
  if (sameSpec(record.spec, job.spec)) {
    return { none: `v${target} (the last good version) has the same spec as v${job.version}` };
  }
  return { version: target };
}
