/** Schemas for what agents send the server (host registration, task status). */
import { z } from 'zod';
import { HOST_CONDITION_TYPES } from '../../model/index.ts';

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a lowercase DNS label');

export const registerHostSchema = z.strictObject({
  id: name,
  labels: z.record(z.string().min(1).max(63), z.string().max(253)),
  capacity: z.strictObject({
    cpu: z.number().positive(),
    memoryBytes: z.number().int().positive(),
    pids: z.number().int().positive(),
  }),
  runtime: z.string().min(1).max(32),
  agentUrl: z.url().optional(),
  /** The agent's runtime gives tasks addresses: give the host its range of the task network. */
  wantSubnet: z.boolean().optional(),
  /** The seccomp profile the host's tasks run under, in a few words. */
  seccomp: z.string().min(1).max(200).optional(),
  /** How the agent makes volumes (docs/volumes.md). */
  volumes: z
    .strictObject({
      kind: z.enum(['directory', 'btrfs-subvolume']),
      quota: z.boolean(),
      summary: z.string().min(1).max(200),
    })
    .optional(),
});

export const heartbeatSchema = z.strictObject({
  lease: z.number().int().positive(),
  conditions: z
    .array(
      z.strictObject({
        type: z.enum(HOST_CONDITION_TYPES),
        message: z.string().max(1024),
        since: z.number().int().nonnegative(),
      }),
    )
    .max(16)
    .optional(),
});

const count = z.number().int().nonnegative();
/** A job's id: its name, `NS:NAME` outside the default namespace. */
const jobIdSchema = z
  .string()
  .regex(
    /^(?:[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?:)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
    'a job id (NAME or NS:NAME)',
  );

export const taskStatusSchema = z.strictObject({
  id: z.string().min(1).max(128),
  job: jobIdSchema,
  host: name,
  state: z.enum(['pending', 'starting', 'running', 'failed', 'stopped']),
  healthy: z.boolean(),
  ready: z.boolean(),
  restarts: count,
  pid: count.optional(),
  address: z.string().max(64).optional(),
  ports: z.record(z.string(), z.number().int().min(0).max(65535)).optional(),
  exitCode: z.number().int().optional(),
  lastExit: z
    .strictObject({
      reason: z.string().min(1).max(64),
      exitCode: z.number().int().optional(),
      signal: z.string().max(16).optional(),
      at: count,
    })
    .optional(),
  reason: z.string().max(64).optional(),
  message: z.string().max(4096).optional(),
  startedAt: count.optional(),
  nextRestartAt: count.optional(),
  healthySince: count.optional(),
  usage: z.strictObject({ cpuSeconds: z.number().nonnegative(), memoryBytes: count, pids: count }).optional(),
  updatedAt: count,
});

export const rollbackSchema = z.strictObject({ version: z.number().int().positive().optional() });

/** `PUT /v1/mesh`: the dependency file as JSON (validated by the mesh schema) and why. */
export const meshApplySchema = z.strictObject({
  file: z.unknown(),
  message: z.string().trim().min(1, 'say why (--message)').max(1000),
});

export const drainSchema = z.strictObject({ deadline: z.string().min(1).max(32).optional() });

export const maintenanceSchema = z.strictObject({
  hosts: z.array(z.string().min(1).max(253)).min(1).max(1000),
  /** ISO-8601 time, or a duration from now. */
  deadline: z.string().min(1).max(64),
  start: z.string().min(1).max(64).optional(),
  reason: z.string().min(1).max(1000),
});

export const maintenanceEndSchema = z.strictObject({
  hosts: z.array(z.string().min(1).max(253)).min(1).max(1000),
});

const duration = z.string().min(1).max(32);

export const createTokenSchema = z.strictObject({
  name: z.string().min(1).max(128),
  role: z.enum(['viewer', 'deployer', 'admin', 'agent']),
  /** Namespaces covered (`*`: all); default `default` for viewer and deployer. */
  namespaces: z.union([z.literal('*'), z.array(z.union([name, z.literal('*')])).max(256)]).optional(),
  ttl: duration.optional(),
});

export const joinSchema = z.strictObject({
  hostId: name,
  /** A CSR for the host's key: the answer then carries a host certificate. */
  csr: z
    .string()
    .min(1)
    .max(16 * 1024)
    .optional(),
  /** The address the certificate is for (where the server reaches the agent); default: the peer's. */
  address: z.ipv4().or(z.ipv6()).optional(),
});

const quotaValue = z.number().nonnegative().nullable().optional();

export const namespaceSchema = z.strictObject({
  name,
  quota: z.strictObject({ cpu: quotaValue, memoryBytes: quotaValue, tasks: quotaValue }).optional(),
});

export const quotaSchema = z.strictObject({ cpu: quotaValue, memoryBytes: quotaValue, tasks: quotaValue });
