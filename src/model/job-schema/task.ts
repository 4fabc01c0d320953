/**
 * A task's probes, health, restart policy, and the task itself.
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import type { ProbeSpec, TaskSpec } from '../job.ts';
import { JOB_DEFAULTS, JOB_LIMITS, RESTART_POLICIES } from './limits.ts';
import {
  OBJECT_RUNS,
  addIssue,
  boolean,
  commandLeaf,
  duration,
  enumLeaf,
  fieldsValid,
  formatMs,
  integer,
  isRecord,
  portRef,
} from './leaves.ts';
import {
  envLeaf,
  httpPathLeaf,
  imageLeaf,
  metricsSchema,
  portsSchema,
  resourcesSchema,
  taskConfigsSchema,
  workingDirLeaf,
} from './task-fields.ts';
import { checkConfigsOutsideVolumes, taskVolumesSchema } from './volumes.ts';

export const PROBE_ACTIONS = ['http', 'tcp', 'exec'] as const;

export function probeSchema(description: string) {
  return z
    .strictObject({
      http: z
        .strictObject({
          port: portRef('Port to send the request to: a declared port name or a number.'),
          path: httpPathLeaf('Request path; 2xx and 3xx answers pass.', JOB_DEFAULTS.httpPath),
          scheme: enumLeaf('URL scheme (only http for now).', ['http'] as const, JOB_DEFAULTS.httpScheme),
        })
        .meta({ description: 'HTTP GET probe: passes on a 2xx or 3xx status.' })
        .optional(),
      tcp: z
        .strictObject({ port: portRef('Port to connect to: a declared port name or a number.') })
        .meta({ description: 'TCP probe: passes when a connection is accepted.' })
        .optional(),
      exec: z
        .strictObject({
          command: commandLeaf('Program and arguments run inside the task; exit status 0 passes.'),
        })
        .meta({ description: 'Command probe: passes when the command exits with status 0.' })
        .optional(),
      interval: duration(
        'Time between probes.',
        JOB_LIMITS.probeIntervalMs.min,
        JOB_LIMITS.probeIntervalMs.max,
        JOB_DEFAULTS.probeInterval,
      ),
      timeout: duration(
        'Time after which one probe attempt counts as failed.',
        JOB_LIMITS.probeTimeoutMs.min,
        JOB_LIMITS.probeTimeoutMs.max,
        JOB_DEFAULTS.probeTimeout,
      ),
      failures: integer(
        'Consecutive failures before the probe counts as failing.',
        JOB_LIMITS.probeThreshold.min,
        JOB_LIMITS.probeThreshold.max,
        JOB_DEFAULTS.probeFailures,
      ),
      successes: integer(
        'Consecutive successes before a failing probe counts as passing again.',
        JOB_LIMITS.probeThreshold.min,
        JOB_LIMITS.probeThreshold.max,
        JOB_DEFAULTS.probeSuccesses,
      ),
      initialDelay: duration(
        'Time after the task starts before the first probe.',
        JOB_LIMITS.probeInitialDelayMs.min,
        JOB_LIMITS.probeInitialDelayMs.max,
        JOB_DEFAULTS.probeInitialDelay,
      ),
      startPeriod: duration(
        'Time after the task starts during which failures before the first success do not count ' +
          '(a slow starter is not restarted by its liveness probe while it boots). Once the probe ' +
          'has passed, or this has elapsed, every failure counts.',
        JOB_LIMITS.probeStartPeriodMs.min,
        JOB_LIMITS.probeStartPeriodMs.max,
        JOB_DEFAULTS.probeStartPeriod,
      ),
    })
    .meta({
      description: `${description} Exactly one of http, tcp or exec.`,
      oneOf: PROBE_ACTIONS.map((a) => ({ required: [a] })),
    })
    .superRefine((p, ctx) => {
      const present = PROBE_ACTIONS.filter((a) => (p as Record<string, unknown>)[a] !== undefined);
      if (present.length === 0) {
        addIssue(ctx, undefined, 'needs an action: one of http, tcp or exec', {
          expected: 'exactly one of http, tcp, exec',
        });
      } else if (present.length > 1) {
        const extra = present[1] ?? 'exec';
        addIssue(
          ctx,
          undefined,
          `has more than one action (${present.join(', ')}); keep exactly one`,
          { expected: 'exactly one of http, tcp, exec', atKey: true },
          [extra],
        );
      }
    }, OBJECT_RUNS)
    .transform((p): ProbeSpec => {
      const action = p.http
        ? { http: p.http }
        : p.tcp
          ? { tcp: p.tcp }
          : p.exec
            ? { exec: p.exec }
            : undefined;
      if (action === undefined) throw new Error('unreachable: probe without action passed validation');
      return {
        action,
        intervalMs: p.interval,
        timeoutMs: p.timeout,
        failures: p.failures,
        successes: p.successes,
        initialDelayMs: p.initialDelay,
        startPeriodMs: p.startPeriod,
      };
    });
}

export const healthSchema = z
  .strictObject({
    liveness: probeSchema(
      'Liveness probe: when it fails, the task is restarted (per restart.policy).',
    ).optional(),
    readiness: probeSchema(
      'Readiness probe: while it fails, the task gets no traffic and does not count as healthy in a rollout.',
    ).optional(),
  })
  .meta({ description: 'Health probes.' })
  .prefault({});

export const restartSchema = z
  .strictObject({
    policy: enumLeaf(
      'When to restart a task whose process exited: always, on-failure (non-zero exit) or never.',
      RESTART_POLICIES,
      JOB_DEFAULTS.restartPolicy,
    ),
    backoff: duration(
      'Delay before the first restart; doubles with each consecutive restart up to maxBackoff.',
      JOB_LIMITS.restartBackoffMs.min,
      JOB_LIMITS.restartBackoffMs.max,
      JOB_DEFAULTS.restartBackoff,
    ),
    maxBackoff: duration(
      'Upper bound of the restart delay.',
      JOB_LIMITS.restartMaxBackoffMs.min,
      JOB_LIMITS.restartMaxBackoffMs.max,
      JOB_DEFAULTS.restartMaxBackoff,
    ),
    rescheduleAfter: integer(
      'After this many restarts while not healthy, the task is replaced by one on another host (when one fits); 0: never.',
      JOB_LIMITS.rescheduleAfter.min,
      JOB_LIMITS.rescheduleAfter.max,
      JOB_DEFAULTS.rescheduleAfter,
    ),
  })
  .meta({ description: 'Restart policy, with exponential backoff between restarts.' })
  .superRefine(
    (r, ctx) => {
      if (r.maxBackoff < r.backoff) {
        addIssue(
          ctx,
          formatMs(r.maxBackoff),
          `must be at least backoff (${formatMs(r.backoff)})`,
          { expected: `a duration of at least ${formatMs(r.backoff)}` },
          ['maxBackoff'],
        );
      }
    },
    fieldsValid('backoff', 'maxBackoff'),
  )
  // rescheduleAfter is left out at its default, so that specs stored before the field existed
  // compare equal to the same file read again (a re-deploy must not replace every task).
  .transform((r): TaskSpec['restart'] => ({
    policy: r.policy,
    initialBackoffMs: r.backoff,
    maxBackoffMs: r.maxBackoff,
    ...(r.rescheduleAfter === JOB_DEFAULTS.rescheduleAfter ? {} : { rescheduleAfter: r.rescheduleAfter }),
  }))
  .prefault({});

export const taskSchema = z
  .strictObject({
    image: imageLeaf.optional(),
    command: commandLeaf('Program and arguments of the task process (no shell: use ["sh", "-c", "..."]).'),
    env: envLeaf,
    workingDir: workingDirLeaf.optional(),
    resources: resourcesSchema,
    ports: portsSchema,
    health: healthSchema,
    metrics: metricsSchema.optional(),
    restart: restartSchema,
    stopGracePeriod: duration(
      'Time between SIGTERM and SIGKILL when the task is stopped.',
      JOB_LIMITS.stopGracePeriodMs.min,
      JOB_LIMITS.stopGracePeriodMs.max,
      JOB_DEFAULTS.stopGracePeriod,
    ),
    configs: taskConfigsSchema,
    volumes: taskVolumesSchema,
    init: boolean(
      "Run a tiny init (catatonit) as the container's PID 1: it forwards signals to the task's process (so one without a SIGTERM handler still stops) and reaps zombies. false runs the command as PID 1. Ignored by the process runtime.",
      true,
    ),
  })
  .meta({ description: 'What each replica runs.' })
  .superRefine(
    (task, ctx) => {
      // Probe ports must name a declared port. Runs once ports are valid, per probe whose own
      // fields are valid, so it never reports on top of another error.
      const ports: unknown = task.ports;
      if (!Array.isArray(ports)) return;
      const names = ports.flatMap((p: unknown) =>
        isRecord(p) && typeof p['name'] === 'string' ? [p['name']] : [],
      );
      const udp = ports.flatMap((p: unknown) =>
        isRecord(p) && typeof p['name'] === 'string' && p['protocol'] === 'udp' ? [p['name']] : [],
      );
      const metrics: unknown = task.metrics;
      const metricsPort = isRecord(metrics) ? metrics['port'] : undefined;
      const metricsValid = !ctx.issues.some(
        (i) => i.path?.[0] === 'metrics' && (i.path.length === 1 || i.path[1] === 'port'),
      );
      if (metricsValid && typeof metricsPort === 'string') {
        if (udp.includes(metricsPort)) {
          addIssue(
            ctx,
            metricsPort,
            `refers to port "${metricsPort}", a udp port, where counters cannot be read over HTTP`,
            { expected: 'a tcp or http port' },
            ['metrics', 'port'],
          );
        } else if (!names.includes(metricsPort)) {
          addIssue(
            ctx,
            metricsPort,
            names.length === 0
              ? `refers to port "${metricsPort}" but task.ports declares none`
              : `refers to port "${metricsPort}", which task.ports does not declare`,
            {
              expected: names.length
                ? `one of the declared ports (${names.join(', ')}) or a port number`
                : 'a port number, or declare the port in task.ports',
            },
            ['metrics', 'port'],
          );
        }
      }
      const health: unknown = task.health;
      if (!isRecord(health)) return;
      for (const kind of ['liveness', 'readiness'] as const) {
        const probe = health[kind];
        if (!isRecord(probe)) continue;
        // A valid probe has been normalized to { action: { http | tcp | exec } }; one with errors
        // elsewhere (say its interval) is still in user form, its valid action already parsed.
        const action = isRecord(probe['action']) ? probe['action'] : probe;
        const key = isRecord(action['http']) ? 'http' : isRecord(action['tcp']) ? 'tcp' : undefined;
        if (key === undefined) continue;
        const actionIsValid = !ctx.issues.some(
          (i) =>
            i.path?.[0] === 'health' &&
            i.path[1] === kind &&
            (i.path.length === 2 || i.path[2] === 'http' || i.path[2] === 'tcp'),
        );
        if (!actionIsValid) continue;
        const target = action[key];
        const port = isRecord(target) ? target['port'] : undefined;
        if (typeof port === 'string' && udp.includes(port)) {
          addIssue(
            ctx,
            port,
            `refers to port "${port}", a udp port, which a ${key} probe cannot check`,
            { expected: 'a tcp or http port, or an exec probe' },
            ['health', kind, key, 'port'],
          );
          continue;
        }
        if (typeof port !== 'string' || names.includes(port)) continue;
        addIssue(
          ctx,
          port,
          names.length === 0
            ? `refers to port "${port}" but task.ports declares none`
            : `refers to port "${port}", which task.ports does not declare`,
          {
            expected: names.length
              ? `one of the declared ports (${names.join(', ')}) or a port number`
              : 'a port number, or declare the port in task.ports',
          },
          ['health', kind, key, 'port'],
        );
      }
    },
    {
      // Skip while a port's name (or the list itself) is invalid: the reference may be right.
      when: (p) =>
        isRecord(p.value) &&
        !p.issues.some((i) => i.path?.[0] === 'ports' && (i.path[2] === undefined || i.path[2] === 'name')),
    },
  )
  .superRefine(checkConfigsOutsideVolumes, fieldsValid('configs', 'volumes'))
  .transform((t): TaskSpec => {
    const health: TaskSpec['health'] = {};
    if (t.health.liveness) health.liveness = t.health.liveness;
    if (t.health.readiness) health.readiness = t.health.readiness;
    return {
      ...(t.image === undefined ? {} : { image: t.image }),
      command: t.command,
      env: t.env,
      ...(t.workingDir === undefined ? {} : { workingDir: t.workingDir }),
      resources: t.resources,
      ports: t.ports,
      health,
      ...(t.metrics === undefined ? {} : { metrics: t.metrics }),
      restart: t.restart,
      stopGracePeriodMs: t.stopGracePeriod,
      ...(t.init ? {} : { init: false as const }),
      ...(t.configs.length === 0 ? {} : { configs: t.configs }),
      ...(t.volumes.length === 0 ? {} : { volumes: t.volumes }),
    };
  });
