/** What the reconcile tests share: a fixed clock, an input with defaults, a deployment record. */
import type { Deployment } from '../model/index.ts';
import { hostView, ids } from './fixtures.ts';
import type { ReconcileInput } from './index.ts';

export const NOW = 1_000_000;

export function input(o: Partial<ReconcileInput> & Pick<ReconcileInput, 'job'>): ReconcileInput {
  return {
    versions: [{ name: o.job.name, version: o.job.version, spec: o.job.spec, createdAt: 0 }],
    tasks: [],
    hosts: [hostView('h1')],
    deployment: undefined,
    now: NOW,
    newTaskId: ids(),
    ...o,
  };
}

export function deployment(o: Partial<Deployment> = {}): Deployment {
  return {
    job: 'web',
    version: 1,
    fromVersion: 0,
    state: 'in-progress',
    desired: 1,
    placed: 0,
    running: 0,
    healthy: 0,
    old: 0,
    message: '',
    startedAt: NOW - 1000,
    updatedAt: NOW - 1000,
    ...o,
  };
}
