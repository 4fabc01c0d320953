/**
 * Limits, defaults and patterns of the job file: the numbers and rules its schema and docs share.
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import type { PortProtocol, RestartPolicy } from '../job.ts';

export const KI = 1024;
export const MI = 1024 * KI;
export const TI = 1024 * 1024 * MI;
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Bounds enforced by the schema (inclusive). Durations in milliseconds, sizes in bytes. */
export const JOB_LIMITS = {
  replicas: { min: 0, max: 10_000 },
  cpu: { min: 0.001, max: 1024 },
  memoryBytes: { min: 1 * MI, max: TI },
  pids: { min: 1, max: 4_194_304 },
  port: { min: 1, max: 65_535 },
  ports: { max: 100 },
  portName: { max: 15 },
  probeIntervalMs: { min: 100, max: HOUR },
  probeTimeoutMs: { min: 10, max: HOUR },
  probeInitialDelayMs: { min: 0, max: HOUR },
  probeStartPeriodMs: { min: 0, max: HOUR },
  probeThreshold: { min: 1, max: 100 },
  restartBackoffMs: { min: 10, max: HOUR },
  restartMaxBackoffMs: { min: 10, max: DAY },
  rescheduleAfter: { min: 0, max: 1000 },
  stopGracePeriodMs: { min: 0, max: HOUR },
  rolloutCount: { min: 0, max: 10_000 },
  minHealthyMs: { min: 0, max: HOUR },
  deadlineMs: { min: SECOND, max: DAY },
  spread: { max: 16 },
  spreadMin: { min: 1, max: 1000 },
  constraints: { max: 64 },
  attribute: { max: 253 },
  image: { max: 512 },
  path: { max: 4096 },
  volumes: { max: 16 },
  volumeWaitMs: { min: 0, max: 7 * DAY },
  volumeBytes: { min: 1 * MI, max: 64 * TI },
} as const;

/** Defaults, in the user form (what you would write in the file). */
export const JOB_DEFAULTS = {
  replicas: 1,
  cpu: 0.1,
  memory: '64Mi',
  pids: 256,
  restartPolicy: 'always',
  restartBackoff: '1s',
  restartMaxBackoff: '5m',
  rescheduleAfter: 5,
  stopGracePeriod: '10s',
  probeInterval: '10s',
  probeTimeout: '1s',
  probeFailures: 3,
  probeSuccesses: 1,
  probeInitialDelay: '0s',
  probeStartPeriod: '30s',
  httpPath: '/',
  httpScheme: 'http',
  maxUnavailable: 1,
  maxSurge: 1,
  canary: 0,
  minHealthy: '5s',
  deadline: '5m',
  autoRollback: true,
  autoPromote: false,
  volumeWait: '5m',
} as const;

/** placement.volumeWait's default, in milliseconds (the normalized form leaves it out then). */
export const VOLUME_WAIT_DEFAULT_MS = 5 * MINUTE;

export const PORT_PROTOCOLS = ['http', 'tcp', 'udp'] as const satisfies readonly PortProtocol[];

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const satisfies readonly RestartPolicy[];

/** Port names: lowercase, start with a letter, at most 15 characters (IANA service-name style). */
export const PORT_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/;
/** Environment variable names. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Placement attribute names (host labels): letters, digits, '.', '_', '/', '-'. */
export const ATTRIBUTE_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
export const DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h))+)$';
export const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$';
export const CPU_PATTERN = '^([0-9]+m|[0-9]+(\\.[0-9]+)?)$';

/** What our own issues carry in `params` (read by job-file.ts to build ValidationIssues). */
export interface JobIssueParams {
  /** What a valid value looks like, e.g. "an integer from 0 to 10000". */
  expected?: string;
  /** The problem is the key of the map entry at this path, not its value. */
  atKey?: boolean;
}
