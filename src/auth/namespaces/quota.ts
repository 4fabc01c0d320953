/**
 * The quota check of a deploy: the job's steady state (replicas x per-task resources) plus what the
 * namespace's other active jobs ask for, against the namespace's quota. Checked in the same
 * transaction as the job's write: the guard compares the namespace record's revision and re-puts
 * it, so two deploys racing past a quota cannot both commit (the loser retries and sees the other).
 * A rollout's surge (maxSurge extra tasks while it runs) is not counted: the quota is on the steady
 * state.
 */
import { DabbaError } from '../../errors/index.ts';
import { formatSize } from '../../lib/index.ts';
import type { JobSpec, NamespaceQuota, NamespaceUsage } from '../../model/index.ts';
import { DEFAULT_NAMESPACE, jobId, keys } from '../../model/index.ts';
import type { Compare, Store, TxnOp } from '../../store/index.ts';
import { getNamespace, namespaceJobs, namespaceMissing, requestedByJobs } from './namespaces.ts';

export interface TxnGuard {
  compare: Compare[];
  success: TxnOp[];
}

const fmtCpu = (n: number): string => String(Math.round(n * 1000) / 1000);

/** The first quota line the request goes over, or undefined when it fits. */
export function quotaExcess(
  ns: string,
  quota: NamespaceQuota,
  used: NamespaceUsage,
  request: NamespaceUsage,
): { message: string; details: Record<string, unknown> } | undefined {
  const lines: { what: string; q: number | undefined; u: number; r: number; fmt: (n: number) => string }[] = [
    { what: 'cpu', q: quota.cpu, u: used.cpu, r: request.cpu, fmt: fmtCpu },
    { what: 'memory', q: quota.memoryBytes, u: used.memoryBytes, r: request.memoryBytes, fmt: formatSize },
    { what: 'tasks', q: quota.tasks, u: used.tasks, r: request.tasks, fmt: String },
  ];
  for (const l of lines) {
    if (l.q === undefined) continue;
    const over = l.u + l.r - l.q;
    if (over > 1e-9) {
      return {
        message: `namespace ${ns}: ${l.what} ${l.fmt(l.r)} requested, quota ${l.fmt(l.q)}, used ${l.fmt(l.u)}: ${l.fmt(over)} over`,
        details: { namespace: ns, resource: l.what, requested: l.r, quota: l.q, used: l.u, over },
      };
    }
  }
  return undefined;
}

/**
 * Checks a job spec against its namespace's quota (throws DABBA_E_QUOTA_EXCEEDED, or 404 for a
 * namespace that does not exist) and returns what the job's write transaction must carry.
 */
export async function quotaGuard(store: Store, spec: JobSpec): Promise<TxnGuard> {
  const ns = spec.namespace ?? DEFAULT_NAMESPACE;
  const current = await getNamespace(store, ns);
  if (!current) {
    if (ns !== DEFAULT_NAMESPACE) throw namespaceMissing(ns);
    // default without a record has no quota; a record created meanwhile fails this compare.
    return {
      compare: [{ key: keys.namespace(ns), target: 'create', op: '=', createRevision: 0 }],
      success: [],
    };
  }
  const quota = current.record.quota;
  const compare: Compare[] = [
    { key: keys.namespace(ns), target: 'mod', op: '=', modRevision: current.kv.modRevision },
  ];
  // Without limits only a quota set meanwhile matters; with limits the record is re-put, so that
  // every deploy checked against it conflicts with the others.
  if (quota.cpu === undefined && quota.memoryBytes === undefined && quota.tasks === undefined) {
    return { compare, success: [] };
  }
  const guard: TxnGuard = {
    compare,
    success: [{ type: 'put', key: keys.namespace(ns), value: current.kv.value }],
  };
  const used = requestedByJobs(await namespaceJobs(store, ns), jobId(ns, spec.name));
  const request: NamespaceUsage = {
    cpu: spec.replicas * spec.task.resources.cpu,
    memoryBytes: spec.replicas * spec.task.resources.memoryBytes,
    tasks: spec.replicas,
  };
  const excess = quotaExcess(ns, quota, used, request);
  if (excess) throw new DabbaError('DABBA_E_QUOTA_EXCEEDED', excess.message, { details: excess.details });
  return guard;
}
