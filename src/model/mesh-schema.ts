/**
 * The dependency file's schema (zod): the user form (durations as "250ms", names as DNS labels)
 * with every default, resolved to MeshConfig. schema/mesh.schema.json is generated from it
 * (`node scripts/gen-schema.ts`), and a test fails when it is out of date.
 */
import { z } from 'zod';
import { parseDuration } from '../lib/durations.ts';
import type { MeshConfig } from './mesh.ts';

/** The defaults: safe and on. */
export const MESH_DEFAULTS = {
  loadBalancing: 'p2c',
  connectTimeout: '250ms',
  timeout: '3s',
  retries: { on: ['connect-failure', '503'], max: 2, perTryTimeout: '1s', methods: 'idempotent' },
  circuitBreaker: { maxConnections: 1024, maxPending: 1024 },
  outlierDetection: { consecutive5xx: 5, ejectionTime: '30s' },
  inbound: { maxConcurrency: 64, queueTimeout: '100ms' },
} as const;

/** What `retries.on` accepts (HAProxy's retry-on conditions, with connect-failure for conn-failure). */
export const RETRY_ON = [
  'connect-failure',
  'empty-response',
  'junk-response',
  'response-timeout',
  '404',
  '408',
  '425',
  '500',
  '501',
  '502',
  '503',
  '504',
] as const;

const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function duration(description: string, dflt: string, min: number, max: number) {
  return z
    .union([z.string(), z.number()])
    .meta({ description, examples: ['250ms', '2s'] })
    .default(dflt)
    .transform((v, ctx): number => {
      if (typeof v === 'number' && v !== 0) {
        ctx.addIssue({
          code: 'custom',
          message: `needs a unit: write "${String(v)}ms" or "${String(v)}s"`,
          input: v,
        });
        return z.NEVER;
      }
      const r = typeof v === 'number' ? { ok: true as const, ms: 0 } : parseDuration(v);
      if (!r.ok) {
        ctx.addIssue({ code: 'custom', message: r.error, input: v });
        return z.NEVER;
      }
      if (r.ms < min || r.ms > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be from ${String(min)}ms to ${String(max / 1000)}s`,
          input: v,
        });
        return z.NEVER;
      }
      return r.ms;
    });
}

function count(description: string, dflt: number, min: number, max: number) {
  return z.int().min(min).max(max).meta({ description }).default(dflt);
}

const retriesSchema = z
  .strictObject({
    on: z
      .array(z.enum(RETRY_ON))
      .meta({ description: 'What is retried: connect-failure, empty-response, response-timeout, statuses.' })
      .default([...MESH_DEFAULTS.retries.on]),
    max: count('Retries after the first try (0: none).', MESH_DEFAULTS.retries.max, 0, 10),
    perTryTimeout: duration('How long one try may take.', MESH_DEFAULTS.retries.perTryTimeout, 1, 3_600_000),
    methods: z
      .enum(['idempotent', 'all'])
      .meta({ description: 'Which requests are retried: idempotent methods only (default), or all.' })
      .default(MESH_DEFAULTS.retries.methods),
  })
  .meta({ description: 'Retry policy.' })
  .prefault({});

const upstreamSchema = z
  .strictObject({
    loadBalancing: z
      .enum(['p2c', 'round-robin', 'least-connections'])
      .meta({ description: 'p2c (power of two random choices, default), round-robin or least-connections.' })
      .default(MESH_DEFAULTS.loadBalancing),
    connectTimeout: duration('How long connecting may take.', MESH_DEFAULTS.connectTimeout, 1, 60_000),
    timeout: duration('How long a request may take, retries included.', MESH_DEFAULTS.timeout, 1, 3_600_000),
    retries: retriesSchema,
    circuitBreaker: z
      .strictObject({
        maxConnections: count(
          'Connections open to one task at most.',
          MESH_DEFAULTS.circuitBreaker.maxConnections,
          1,
          1_000_000,
        ),
        maxPending: count(
          'Requests waiting for a connection to one task at most; more get 503.',
          MESH_DEFAULTS.circuitBreaker.maxPending,
          0,
          1_000_000,
        ),
      })
      .meta({ description: 'Circuit breaker (limits per task).' })
      .prefault({}),
    outlierDetection: z
      .strictObject({
        consecutive5xx: count(
          'Consecutive 5xx answers after which a task is ejected.',
          MESH_DEFAULTS.outlierDetection.consecutive5xx,
          1,
          1000,
        ),
        ejectionTime: duration(
          'How long an ejected task waits between checks before it comes back.',
          MESH_DEFAULTS.outlierDetection.ejectionTime,
          100,
          3_600_000,
        ),
      })
      .meta({ description: 'Outlier ejection.' })
      .prefault({}),
  })
  .meta({ description: 'How the service calls this upstream.' });

const serviceSchema = z
  .strictObject({
    upstreams: z
      .record(
        z.string().regex(SERVICE_NAME, 'an upstream is a service (job) name: a lowercase DNS label'),
        upstreamSchema.nullable().transform((u) => u ?? upstreamSchema.parse({})),
      )
      .meta({ description: 'The services this one may call, with how.' })
      .prefault({}),
    inbound: z
      .strictObject({
        maxConcurrency: count(
          'Requests one task handles at once.',
          MESH_DEFAULTS.inbound.maxConcurrency,
          1,
          1_000_000,
        ),
        queueTimeout: duration(
          'How long a request may wait for a task (0: as long as the request timeout).',
          MESH_DEFAULTS.inbound.queueTimeout,
          0,
          3_600_000,
        ),
      })
      .meta({ description: "The service's own inbound limits." })
      .prefault({}),
    expose: z.int().min(1).max(65535).meta({ description: 'Ingress port on every host.' }).optional(),
  })
  .meta({ description: 'A service (a job of namespace default) in the mesh.' });

export const meshFileSchema = z
  .strictObject({
    $schema: z.string().meta({ description: 'URL or path of this JSON Schema; ignored.' }).optional(),
    services: z
      .record(
        z.string().regex(SERVICE_NAME, 'a service is a job name: a lowercase DNS label'),
        serviceSchema.nullable().transform((s) => s ?? serviceSchema.parse({})),
      )
      .meta({ description: 'Each service, the upstreams it may call and its inbound limits.' }),
  })
  .meta({
    title: 'Dabba dependency file',
    description: "The cluster's service dependencies and their policies. See docs/mesh.md.",
  })
  .transform((f): MeshConfig => {
    const services: MeshConfig['services'] = {};
    for (const [name, s] of Object.entries(f.services)) {
      const upstreams: MeshConfig['services'][string]['upstreams'] = {};
      for (const [u, p] of Object.entries(s.upstreams)) {
        upstreams[u] = {
          loadBalancing: p.loadBalancing,
          connectTimeoutMs: p.connectTimeout,
          timeoutMs: p.timeout,
          retries: {
            on: [...p.retries.on],
            max: p.retries.max,
            perTryTimeoutMs: p.retries.perTryTimeout,
            methods: p.retries.methods,
          },
          circuitBreaker: { ...p.circuitBreaker },
          outlierDetection: {
            consecutive5xx: p.outlierDetection.consecutive5xx,
            ejectionTimeMs: p.outlierDetection.ejectionTime,
          },
        };
      }
      services[name] = {
        upstreams,
        inbound: { maxConcurrency: s.inbound.maxConcurrency, queueTimeoutMs: s.inbound.queueTimeout },
        ...(s.expose === undefined ? {} : { expose: s.expose }),
      };
    }
    return { services };
  });

/** JSON Schema of the user form, as in schema/mesh.schema.json. */
export function meshJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(meshFileSchema, { io: 'input', target: 'draft-2020-12' });
}

export function meshSchemaFileText(): string {
  return `${JSON.stringify(meshJsonSchema(), null, 2)}\n`;
}
