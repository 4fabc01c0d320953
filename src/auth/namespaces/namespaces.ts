/**
 * Namespace records (/namespaces/NS) and their quotas. `default` exists without a record (a record
 * appears once it gets a quota); other namespaces are created by an admin before jobs go in them.
 */
import type { DabbaError } from '../../errors/index.ts';
import { ConflictError, NotFoundError, ValidationError } from '../../errors/index.ts';
import type {
  JobRecord,
  NamespaceQuota,
  NamespaceRecord,
  NamespaceUsage,
  NamespaceView,
} from '../../model/index.ts';
import {
  DEFAULT_NAMESPACE,
  isNamespaceName,
  keys,
  namespaceOfJobId,
  readTaskValues,
} from '../../model/index.ts';
import type { KeyValue, Store } from '../../store/index.ts';

export function checkNamespaceName(name: string): void {
  if (!isNamespaceName(name)) {
    throw new ValidationError(
      `"${name}" is not a valid namespace name (a DNS label: lowercase letters, digits, "-")`,
      [{ path: 'namespace', message: 'must be a lowercase DNS label', found: name }],
    );
  }
}

export function checkQuota(q: NamespaceQuota): NamespaceQuota {
  const out: NamespaceQuota = {};
  const issues: { path: string; message: string }[] = [];
  if (q.cpu !== undefined) {
    if (!Number.isFinite(q.cpu) || q.cpu < 0)
      issues.push({ path: 'cpu', message: 'must be a number of cores, 0 or more' });
    else out.cpu = q.cpu;
  }
  if (q.memoryBytes !== undefined) {
    if (!Number.isSafeInteger(q.memoryBytes) || q.memoryBytes < 0)
      issues.push({ path: 'memoryBytes', message: 'must be a whole number of bytes, 0 or more' });
    else out.memoryBytes = q.memoryBytes;
  }
  if (q.tasks !== undefined) {
    if (!Number.isSafeInteger(q.tasks) || q.tasks < 0)
      issues.push({ path: 'tasks', message: 'must be a whole number, 0 or more' });
    else out.tasks = q.tasks;
  }
  if (issues.length > 0)
    throw new ValidationError(
      `invalid quota: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      issues,
    );
  return out;
}

export async function getNamespace(
  store: Store,
  name: string,
): Promise<{ record: NamespaceRecord; kv: KeyValue } | undefined> {
  const kv = await store.get(keys.namespace(name));
  return kv === undefined ? undefined : { record: JSON.parse(kv.value) as NamespaceRecord, kv };
}

export async function createNamespace(
  store: Store,
  name: string,
  quota: NamespaceQuota,
  createdBy: string,
  now: number,
): Promise<NamespaceRecord> {
  checkNamespaceName(name);
  const record: NamespaceRecord = { name, quota: checkQuota(quota), createdAt: now, createdBy };
  const r = await store.txn({
    compare: [{ key: keys.namespace(name), target: 'create', op: '=', createRevision: 0 }],
    success: [{ type: 'put', key: keys.namespace(name), value: JSON.stringify(record) }],
  });
  if (!r.succeeded)
    throw new ConflictError(`namespace "${name}" exists already`, { details: { namespace: name } });
  return record;
}

/** Replaces a namespace's quota (fields given replace, `null` removes a limit). */
export async function setQuota(
  store: Store,
  name: string,
  change: { [K in keyof NamespaceQuota]?: number | null | undefined },
  by: string,
  now: number,
): Promise<NamespaceRecord> {
  checkNamespaceName(name);
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await getNamespace(store, name);
    if (!current && name !== DEFAULT_NAMESPACE) throw new NotFoundError('namespace', name);
    const quota: NamespaceQuota = { ...(current?.record.quota ?? {}) };
    for (const k of ['cpu', 'memoryBytes', 'tasks'] as const) {
      const v = change[k];
      if (v === null) delete quota[k];
      else if (v !== undefined) quota[k] = v;
    }
    const record: NamespaceRecord = current
      ? { ...current.record, quota: checkQuota(quota) }
      : { name, quota: checkQuota(quota), createdAt: now, createdBy: by };
    const r = await store.txn({
      compare: [
        { key: keys.namespace(name), target: 'mod', op: '=', modRevision: current?.kv.modRevision ?? 0 },
      ],
      success: [{ type: 'put', key: keys.namespace(name), value: JSON.stringify(record) }],
    });
    if (r.succeeded) return record;
  }
  throw new ConflictError(`namespace "${name}" is being changed by someone else; try again`);
}

const zero = (): NamespaceUsage => ({ cpu: 0, memoryBytes: 0, tasks: 0 });

/** Whether a key under /jobs/ or /tasks/ belongs to namespace `ns`. */
function inNamespace(key: string, prefix: string, ns: string): boolean {
  const id = key.slice(prefix.length).split('/')[0] ?? '';
  return namespaceOfJobId(id) === ns;
}

/** Ranges the keys of one namespace under a kind's prefix (/jobs/ or /tasks/). */
async function rangeNamespace(store: Store, prefix: '/jobs/' | '/tasks/', ns: string): Promise<KeyValue[]> {
  if (ns !== DEFAULT_NAMESPACE) return (await store.range(`${prefix}${ns}:`)).kvs;
  return (await store.range(prefix)).kvs.filter((kv) => inNamespace(kv.key, prefix, ns));
}

/** What the namespace's tasks that should run use now. */
export async function usedByTasks(store: Store, ns: string): Promise<NamespaceUsage> {
  const u = zero();
  const kvs = await rangeNamespace(store, '/tasks/', ns);
  for (const t of await readTaskValues(
    kvs.map((kv) => kv.value),
    store,
  )) {
    if (t.desired !== 'run') continue;
    u.cpu += t.spec.resources.cpu;
    u.memoryBytes += t.spec.resources.memoryBytes;
    u.tasks += 1;
  }
  return u;
}

/** What the namespace's active jobs ask for at steady state, leaving out job `except` (an id). */
export function requestedByJobs(jobs: readonly JobRecord[], except?: string): NamespaceUsage {
  const u = zero();
  for (const j of jobs) {
    if (j.status !== 'active' || j.name === except) continue;
    u.cpu += j.spec.replicas * j.spec.task.resources.cpu;
    u.memoryBytes += j.spec.replicas * j.spec.task.resources.memoryBytes;
    u.tasks += j.spec.replicas;
  }
  return u;
}

export async function namespaceJobs(store: Store, ns: string): Promise<JobRecord[]> {
  return (await rangeNamespace(store, '/jobs/', ns)).map((kv) => JSON.parse(kv.value) as JobRecord);
}

export async function namespaceView(
  store: Store,
  name: string,
  record: NamespaceRecord | undefined,
): Promise<NamespaceView> {
  const [used, jobs] = await Promise.all([usedByTasks(store, name), namespaceJobs(store, name)]);
  return {
    name,
    quota: record?.quota ?? {},
    used: round(used),
    requested: round(requestedByJobs(jobs)),
    createdAt: record?.createdAt ?? null,
  };
}

function round(u: NamespaceUsage): NamespaceUsage {
  return { ...u, cpu: Math.round(u.cpu * 1000) / 1000 };
}

/** Every namespace: `default` and those with a record. */
export async function listNamespaces(store: Store): Promise<NamespaceRecord[]> {
  const { kvs } = await store.range(keys.namespacesPrefix);
  const list = kvs.map((kv) => JSON.parse(kv.value) as NamespaceRecord);
  if (!list.some((n) => n.name === DEFAULT_NAMESPACE)) {
    list.unshift({ name: DEFAULT_NAMESPACE, quota: {}, createdAt: 0, createdBy: 'built-in' });
  }
  return list;
}

export function namespaceMissing(name: string): DabbaError {
  return new NotFoundError('namespace', name, {
    details: { hint: `an admin creates it with: dabba namespace create ${name}` },
  });
}
