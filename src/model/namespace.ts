/**
 * Namespaces: a job belongs to one (`namespace:` in the job file, default `default`). Inside the
 * control plane a job is known by its id: its name in the default namespace (so data written before
 * namespaces existed reads the same), `NS:NAME` elsewhere. `:` cannot appear in a name, so no id is
 * the prefix of another's keys (`/tasks/web/` and `/tasks/web:api/` stay apart) and a namespace's
 * keys share one prefix (`/tasks/NS:`). Task ids stay `NAME-xxxxx`.
 */
import { NAME_PATTERN } from '../lib/ids.ts';

export const DEFAULT_NAMESPACE = 'default';
/** In `?namespace=` and token grants: every namespace. */
export const ALL_NAMESPACES = '*';

/** A namespace name is a DNS label, like job and host names. */
export function isNamespaceName(name: string): boolean {
  return NAME_PATTERN.test(name);
}

export function jobId(namespace: string, name: string): string {
  return namespace === DEFAULT_NAMESPACE ? name : `${namespace}:${name}`;
}

/** The namespace and name of a job id. */
export function splitJobId(id: string): { namespace: string; name: string } {
  const i = id.indexOf(':');
  return i < 0
    ? { namespace: DEFAULT_NAMESPACE, name: id }
    : { namespace: id.slice(0, i), name: id.slice(i + 1) };
}

export function namespaceOfJobId(id: string): string {
  const i = id.indexOf(':');
  return i < 0 ? DEFAULT_NAMESPACE : id.slice(0, i);
}

/** Resources a namespace may use; an absent field is unlimited. */
export interface NamespaceQuota {
  cpu?: number;
  memoryBytes?: number;
  tasks?: number;
}

/** The record under /namespaces/NS. */
export interface NamespaceRecord {
  name: string;
  quota: NamespaceQuota;
  createdAt: number;
  createdBy: string;
}

export interface NamespaceUsage {
  cpu: number;
  memoryBytes: number;
  tasks: number;
}

/** `GET /v1/namespaces`: each namespace with its quota, what its running tasks use, and what its jobs ask. */
export interface NamespaceView {
  name: string;
  quota: NamespaceQuota;
  /** What the namespace's tasks that should run use now (from the store's tasks). */
  used: NamespaceUsage;
  /** What its active jobs ask for at steady state (replicas x per-task resources): what deploys are checked against. */
  requested: NamespaceUsage;
  createdAt: number | null;
}
