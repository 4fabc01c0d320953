/**
 * A task's fields: name, image, working dir, configs, env, resources, ports, metrics.
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { ConfigOnChange, PortProtocol, PortSpec, ResourceSpec } from '../job.ts';
import { normalizePort } from '../job.ts';
import { configPathProblem } from '../config.ts';
import {
  CPU_PATTERN,
  ENV_NAME_PATTERN,
  JOB_DEFAULTS,
  JOB_LIMITS,
  PORT_NAME_PATTERN,
  PORT_PROTOCOLS,
  SIZE_PATTERN,
} from './limits.ts';
import type { DefaultedLeaf } from './leaves.ts';
import {
  addIssue,
  bad,
  closest,
  integer,
  isRecord,
  leaf,
  ok,
  parseCpu,
  parseMemory,
  parseName,
  plainString,
  portRef,
} from './leaves.ts';

// ---------------------------------------------------------------------------------------------
// Task.

export const NAME_RULE = '1-63 lowercase letters, digits or "-", starting and ending with a letter or digit';

export const nameLeaf = leaf<string>({
  expected: NAME_RULE,
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    minLength: 1,
    maxLength: 63,
    description: `Job name, unique in its namespace: ${NAME_RULE}. Used in task ids, host names and keys.`,
    examples: ['hello', 'web-frontend'],
  },
  parse: parseName,
});

export const imageLeaf = leaf<string>({
  expected: 'an image name such as busybox or registry.example/app:1.2',
  json: {
    type: 'string',
    pattern: '^\\S+$',
    maxLength: JOB_LIMITS.image.max,
    description:
      'Image the task runs in: a name known to the image store (`dabba image ls`). Optional with the process runtime.',
    examples: ['busybox', 'web:1.4.2'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', JOB_LIMITS.image.max);
    if (!s.ok) return s;
    if (/\s/.test(s.value)) return bad('must not contain spaces');
    return s;
  },
});

export const workingDirLeaf = leaf<string>({
  expected: 'a directory path such as /srv/app',
  json: {
    type: 'string',
    minLength: 1,
    maxLength: JOB_LIMITS.path.max,
    description:
      'Working directory of the task process. `dabba deploy` resolves a relative path against the folder of the job file.',
    examples: ['/srv/app'],
  },
  parse: (v) => plainString(v, 'a string', JOB_LIMITS.path.max),
});

export const configPathLeaf = leaf<string>({
  expected: 'a config path such as app/settings.json',
  json: {
    type: 'string',
    minLength: 1,
    maxLength: 512,
    description: "A config's path in the job's namespace (`dabba config ls`).",
    examples: ['app/settings.json'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 512);
    if (!s.ok) return s;
    const problem = configPathProblem(s.value);
    return problem === undefined ? s : bad(problem);
  },
});

export const configMountLeaf = leaf<string>({
  expected: 'an absolute file path such as /etc/app/settings.json',
  json: {
    type: 'string',
    pattern: '^/',
    maxLength: JOB_LIMITS.path.max,
    description:
      'Where the task sees the config: in a container at this path; with the process runtime at $DABBA_CONFIG_DIR/<this path without its leading />.',
    examples: ['/etc/app/settings.json'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', JOB_LIMITS.path.max);
    if (!s.ok) return s;
    if (!s.value.startsWith('/')) return bad('must be an absolute path (starting with /)');
    const segs = s.value.slice(1).split('/');
    if (segs.some((x) => x === '' || x === '.' || x === '..'))
      return bad('must be a normalized file path (no empty, "." or ".." segments, no trailing /)');
    return s;
  },
});

export const onChangeLeaf = leaf<ConfigOnChange>({
  expected: 'none, signal:HUP or restart',
  default: 'none',
  json: {
    enum: ['none', 'signal:HUP', 'restart'],
    default: 'none',
    description:
      'What the task is told when the config changes: nothing (it reads the file again itself), SIGHUP to its main process, or a restart.',
  },
  parse: (v) =>
    v === 'none' || v === 'signal:HUP' || v === 'restart'
      ? ok(v)
      : bad(`must be none, signal:HUP or restart`),
});

export const taskConfigsSchema = z
  .array(z.strictObject({ path: configPathLeaf, mount: configMountLeaf, onChange: onChangeLeaf }))
  .meta({
    maxItems: 64,
    description:
      'Configs the task needs (docs/config.md): each is present before the task starts and replaced atomically when it changes.',
  })
  .superRefine(
    (list, ctx) => {
      if (list.length > 64)
        addIssue(ctx, list.length, 'has more than 64 configs', { expected: 'at most 64' });
      const mounts = new Map<string, number>();
      list.forEach((c: unknown, i) => {
        if (!isRecord(c) || typeof c['mount'] !== 'string') return;
        const first = mounts.get(c['mount']);
        if (first === undefined) mounts.set(c['mount'], i);
        else {
          addIssue(
            ctx,
            c['mount'],
            `duplicate mount (already used by task.configs[${first}])`,
            { expected: 'a mount path of its own' },
            [i, 'mount'],
          );
        }
      });
    },
    { when: (p) => Array.isArray(p.value) },
  )
  .prefault([]);

export const envLeaf = z
  .unknown()
  .meta({
    type: 'object',
    propertyNames: { pattern: ENV_NAME_PATTERN.source },
    additionalProperties: { type: 'string' },
    description:
      'Environment variables of the task. Values are strings: quote numbers and booleans ("8080", "true").',
    examples: [{ GREETING: 'hi', WORKERS: '4' }],
  })
  .transform((input, ctx): Record<string, string> => {
    if (!isRecord(input)) {
      addIssue(ctx, input, input === null ? 'has no value' : 'must be a mapping of NAME: "value"', {
        expected: 'a mapping of variable names to strings, e.g. { GREETING: hi }',
      });
      return z.NEVER;
    }
    let good = true;
    const out: [string, string][] = [];
    for (const [key, value] of Object.entries(input)) {
      if (!ENV_NAME_PATTERN.test(key)) {
        good = false;
        addIssue(
          ctx,
          key,
          `"${key}" is not a valid environment variable name`,
          { expected: 'letters, digits and "_", not starting with a digit', atKey: true },
          [key],
        );
      }
      if (typeof value === 'string') {
        if (value.includes('\u0000')) {
          good = false;
          addIssue(ctx, value, 'must not contain NUL characters', { expected: 'a string' }, [key]);
        }
        out.push([key, value]);
        continue;
      }
      good = false;
      const quoted =
        typeof value === 'number' || typeof value === 'boolean'
          ? `must be a string; quote it: ${key}: "${String(value)}"`
          : value === null
            ? `has no value; write ${key}: "" for an empty string`
            : 'must be a string';
      addIssue(ctx, value, quoted, { expected: 'a string' }, [key]);
    }
    // fromEntries defines own properties, so a key such as __proto__ stays an ordinary key.
    return good ? Object.fromEntries(out) : z.NEVER;
  })
  .prefault({});

export const resourcesSchema = z
  .strictObject({
    cpu: leaf<number>({
      expected: 'CPU cores (0.25) or millicores ("250m"), from 1m to 1024 cores',
      json: {
        anyOf: [
          { type: 'number', exclusiveMinimum: 0, maximum: JOB_LIMITS.cpu.max },
          { type: 'string', pattern: CPU_PATTERN },
        ],
        description:
          'CPU in cores (0.25) or millicores ("250m"), resolution 1m. Reserved on the host for placement; the oci runtime enforces it with cgroups.',
        examples: [0.25, '250m', 2],
      },
      parse: parseCpu,
      default: JOB_DEFAULTS.cpu,
    }),
    memory: leaf<number>({
      expected: 'a size from 1Mi to 1Ti, such as 64Mi, 512Mi or 2Gi',
      json: {
        anyOf: [
          { type: 'string', pattern: SIZE_PATTERN },
          { type: 'integer', minimum: JOB_LIMITS.memoryBytes.min, maximum: JOB_LIMITS.memoryBytes.max },
        ],
        description:
          'Memory reserved for, and limit of, the task: a size with a binary (Ki, Mi, Gi, Ti) or decimal (K, M, G, T) unit, or a number of bytes. From 1Mi to 1Ti (a limit below what a container can start with fails the task with StartFailed).',
        examples: ['64Mi', '512Mi', '2Gi'],
      },
      parse: parseMemory,
      default: JOB_DEFAULTS.memory,
    }),
    pids: integer(
      'Maximum number of processes and threads in the task.',
      JOB_LIMITS.pids.min,
      JOB_LIMITS.pids.max,
      JOB_DEFAULTS.pids,
    ),
  })
  .meta({ description: 'Resources reserved for each task (and enforced by the oci runtime).' })
  .transform((r): ResourceSpec => ({ cpu: r.cpu, memoryBytes: r.memory, pids: r.pids }))
  .prefault({});

export const protocolLeaf = leaf<PortProtocol>({
  expected: `one of: ${PORT_PROTOCOLS.join(', ')}`,
  json: {
    type: 'string',
    enum: PORT_PROTOCOLS,
    description:
      'What the port speaks: http, tcp or udp. Without it, a port named http, web or metrics, or whose name ends in -http, is http, and any other is tcp. `dabba deploy` and `dabba status` print http:// addresses for http ports, tcp:// and udp:// for the others; tcp and http probes cannot check a udp port.',
  },
  parse: (v) => {
    if (typeof v === 'string' && (PORT_PROTOCOLS as readonly string[]).includes(v))
      return ok(v as PortProtocol);
    const near = typeof v === 'string' ? closest(v.trim().toLowerCase(), PORT_PROTOCOLS) : undefined;
    return bad(near !== undefined ? `is not valid; did you mean "${near}"?` : 'is not valid');
  },
});

export const portSchema = z
  .strictObject({
    name: leaf<string>({
      expected: 'lowercase letters, digits and "-", starting with a letter, at most 15 characters',
      json: {
        type: 'string',
        pattern: PORT_NAME_PATTERN.source,
        maxLength: JOB_LIMITS.portName.max,
        description:
          'Port name, referred to by probes; the task gets the port number in DABBA_PORT_<NAME> (upper case, "-" as "_").',
        examples: ['http', 'metrics'],
      },
      parse: (v) => {
        const s = plainString(v, 'a string', 64);
        if (!s.ok) return s;
        if (s.value.length > JOB_LIMITS.portName.max) {
          return bad(`must be at most ${JOB_LIMITS.portName.max} characters long`);
        }
        if (PORT_NAME_PATTERN.test(s.value)) return s;
        return bad(
          PORT_NAME_PATTERN.test(s.value.toLowerCase())
            ? `is not a valid port name; did you mean "${s.value.toLowerCase()}"?`
            : 'is not a valid port name',
        );
      },
    }),
    port: integer('Port number the task listens on.', JOB_LIMITS.port.min, JOB_LIMITS.port.max),
    protocol: protocolLeaf.optional(),
  })
  .meta({ description: 'A port the task listens on.' })
  .transform((p): PortSpec => normalizePort(p.name, p.port, p.protocol));

export const portsSchema = z
  .array(portSchema)
  .meta({
    maxItems: JOB_LIMITS.ports.max,
    description: 'Ports the task listens on. Names and numbers are unique.',
  })
  .superRefine(
    (ports, ctx) => {
      if (ports.length > JOB_LIMITS.ports.max) {
        addIssue(ctx, ports.length, `has more than ${JOB_LIMITS.ports.max} ports`, {
          expected: `at most ${JOB_LIMITS.ports.max} ports`,
        });
      }
      const names = new Map<string, number>();
      const numbers = new Map<number, number>();
      ports.forEach((p: unknown, i) => {
        if (!isRecord(p)) return;
        if (typeof p['name'] === 'string') {
          const first = names.get(p['name']);
          if (first === undefined) names.set(p['name'], i);
          else {
            addIssue(
              ctx,
              p['name'],
              `duplicate port name (already used by task.ports[${first}])`,
              { expected: 'a unique port name' },
              [i, 'name'],
            );
          }
        }
        if (typeof p['port'] === 'number') {
          const first = numbers.get(p['port']);
          if (first === undefined) numbers.set(p['port'], i);
          else {
            addIssue(
              ctx,
              p['port'],
              `duplicate port number (already used by task.ports[${first}])`,
              { expected: 'a unique port number' },
              [i, 'port'],
            );
          }
        }
      });
    },
    { when: (p) => Array.isArray(p.value) },
  )
  .prefault([]);

export function httpPathLeaf(description: string, dflt: string): DefaultedLeaf<string> {
  return leaf<string>({
    expected: 'a path starting with "/"',
    json: { type: 'string', pattern: '^/', description },
    parse: (v) => {
      const s = plainString(v, 'a string', JOB_LIMITS.path.max);
      if (!s.ok) return s;
      if (!s.value.startsWith('/')) return bad('must start with "/"');
      if (/\s/.test(s.value)) return bad('must not contain spaces (percent-encode them)');
      return s;
    },
    default: dflt,
  });
}

export const metricsSchema = z
  .strictObject({
    port: portRef('Port the counters are served on: a declared port name or a number.'),
    path: httpPathLeaf(
      'Path of the counters: Prometheus/OpenMetrics text or a flat JSON map of name to number.',
      '/metrics',
    ),
  })
  .meta({
    description:
      "Where the task serves its counters; the host's agent collects them at its interval (see docs/telemetry.md).",
  });
