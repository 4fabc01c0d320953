/** A JobSpec back in user form: the job file a user would write for it (defaults left out). */
import { batchToUser } from '../job-schema/batch.ts';
import { scalingToUser } from '../job-schema/elastic.ts';
import { portProtocol, type JobSpec, type ProbeSpec } from '../job.ts';
import { formatExactDuration, JOB_DEFAULTS } from '../job-schema.ts';
import { VOLUME_WAIT_DEFAULT_MS } from '../job-schema/limits.ts';

export const SIZE_UNITS: [string, number][] = [
  ['Ti', 1024 ** 4],
  ['Gi', 1024 ** 3],
  ['Mi', 1024 ** 2],
  ['Ki', 1024],
  ['T', 1e12],
  ['G', 1e9],
  ['M', 1e6],
  ['K', 1e3],
];

/** The shortest exact size spelling: 64Mi, 1G, or a plain byte count. */
export function formatExactSize(bytes: number): string {
  for (const [unit, n] of SIZE_UNITS) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

export function probeToUser(p: ProbeSpec): Record<string, unknown> {
  const a = p.action;
  const action =
    'http' in a
      ? { http: { port: a.http.port, path: a.http.path, scheme: a.http.scheme } }
      : 'tcp' in a
        ? { tcp: { port: a.tcp.port } }
        : { exec: { command: [...a.exec.command] } };
  return {
    ...action,
    interval: formatExactDuration(p.intervalMs),
    timeout: formatExactDuration(p.timeoutMs),
    failures: p.failures,
    successes: p.successes,
    initialDelay: formatExactDuration(p.initialDelayMs),
    startPeriod: formatExactDuration(p.startPeriodMs ?? 0),
  };
}

/**
 * The user form of a normalized spec, every field spelled out (sizes and durations as exact
 * strings), such that validateJob(toUserForm(spec)) gives back `spec`. The API and CLI use this form
 * on the wire.
 */
export function toUserForm(spec: JobSpec): Record<string, unknown> {
  const t = spec.task;
  const health: Record<string, unknown> = {};
  if (t.health.liveness) health['liveness'] = probeToUser(t.health.liveness);
  if (t.health.readiness) health['readiness'] = probeToUser(t.health.readiness);
  const b = spec.batch;
  return {
    name: spec.name,
    ...(spec.namespace === undefined ? {} : { namespace: spec.namespace }),
    ...(b === undefined ? { replicas: spec.replicas } : batchToUser(b)),
    task: {
      ...(t.image === undefined ? {} : { image: t.image }),
      command: [...t.command],
      env: { ...t.env },
      ...(t.workingDir === undefined ? {} : { workingDir: t.workingDir }),
      resources: {
        cpu: t.resources.cpu,
        memory: formatExactSize(t.resources.memoryBytes),
        pids: t.resources.pids,
      },
      ports: t.ports.map((p) => ({ name: p.name, port: p.port, protocol: portProtocol(p) })),
      health,
      ...(t.metrics === undefined ? {} : { metrics: { port: t.metrics.port, path: t.metrics.path } }),
      restart: {
        policy: t.restart.policy,
        backoff: formatExactDuration(t.restart.initialBackoffMs),
        maxBackoff: formatExactDuration(t.restart.maxBackoffMs),
        rescheduleAfter: t.restart.rescheduleAfter ?? JOB_DEFAULTS.rescheduleAfter,
      },
      stopGracePeriod: formatExactDuration(t.stopGracePeriodMs),
      init: t.init !== false,
      ...(t.configs === undefined ? {} : { configs: t.configs.map((c) => ({ ...c })) }),
      ...(t.volumes === undefined
        ? {}
        : {
            volumes: t.volumes.map((v) => ({
              name: v.name,
              mount: v.mount,
              size: formatExactSize(v.sizeBytes),
            })),
          }),
    },
    update: {
      maxUnavailable: spec.update.maxUnavailable,
      maxSurge: spec.update.maxSurge,
      canary: spec.update.canary,
      minHealthy: formatExactDuration(spec.update.minHealthyMs),
      deadline: formatExactDuration(spec.update.deadlineMs),
      autoRollback: spec.update.autoRollback,
      autoPromote: spec.update.autoPromote,
    },
    placement: {
      spread: spec.placement.spread.map((s) => (s.min === undefined ? { attribute: s.attribute } : { ...s })),
      constraints: spec.placement.constraints.map((c) => ({ ...c, ...('in' in c ? { in: [...c.in] } : {}) })),
      volumeWait: formatExactDuration(spec.placement.volumeWaitMs ?? VOLUME_WAIT_DEFAULT_MS),
    },
    ...(spec.pool === undefined ? {} : { pool: spec.pool }),
    ...(spec.scaling === undefined ? {} : { scaling: scalingToUser(spec.scaling) }),
    ...(spec.taskControl === undefined
      ? {}
      : {
          taskControl: {
            url: spec.taskControl.url,
            timeout: formatExactDuration(spec.taskControl.timeoutMs),
            hostFailureWait: formatExactDuration(spec.taskControl.hostFailureWaitMs),
          },
        }),
  };
}
