/**
 * The user-facing job file (YAML or JSON) as one zod schema. Its input is what people write
 * (`memory: 64Mi`, `interval: 2s`, `cpu: "250m"`); its output is the normalized `JobSpec` (bytes,
 * milliseconds, cores). schema/job.schema.json is generated from it (`npm run schema`), and
 * docs/job-file.md documents it: keep the three in step.
 *
 * Leaves are parsed by hand (z.unknown() + transform) so every error carries a precise message and
 * `params.expected`; their JSON Schema comes from `.meta()`. Cross-field checks run as soon as the
 * fields they read are valid, so one pass reports every problem.
 */
import { z } from 'zod';
import { parseDuration } from '../lib/durations.ts';
import { NAME_PATTERN } from '../lib/ids.ts';
import { parseSize } from '../lib/sizes.ts';
import type {
  ConfigOnChange,
  Constraint,
  JobSpec,
  PlacementSpec,
  TaskControlSpec,
  PortProtocol,
  PortSpec,
  ProbeSpec,
  ResourceSpec,
  RestartPolicy,
  SpreadSpec,
  TaskSpec,
  UpdateSpec,
} from './job.ts';
import { normalizePort } from './job.ts';
import { configPathProblem } from './config.ts';

const KI = 1024;
const MI = 1024 * KI;
const TI = 1024 * 1024 * MI;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

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
  httpPath: '/',
  httpScheme: 'http',
  maxUnavailable: 1,
  maxSurge: 1,
  canary: 0,
  minHealthy: '5s',
  deadline: '5m',
  autoRollback: true,
  autoPromote: false,
} as const;

export const PORT_PROTOCOLS = ['http', 'tcp', 'udp'] as const satisfies readonly PortProtocol[];

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const satisfies readonly RestartPolicy[];

/** Port names: lowercase, start with a letter, at most 15 characters (IANA service-name style). */
export const PORT_NAME_PATTERN = /^[a-z]([a-z0-9-]{0,13}[a-z0-9])?$/;
/** Environment variable names. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Placement attribute names (host labels): letters, digits, '.', '_', '/', '-'. */
export const ATTRIBUTE_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._/-]*[A-Za-z0-9])?$/;
const DURATION_PATTERN = '^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h))+)$';
const SIZE_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|K|M|G|T)?$';
const CPU_PATTERN = '^([0-9]+m|[0-9]+(\\.[0-9]+)?)$';

/** What our own issues carry in `params` (read by job-file.ts to build ValidationIssues). */
export interface JobIssueParams {
  /** What a valid value looks like, e.g. "an integer from 0 to 10000". */
  expected?: string;
  /** The problem is the key of the map entry at this path, not its value. */
  atKey?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Leaves: parse functions with precise messages.

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; expected?: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const bad = (message: string, expected?: string): Parsed<never> =>
  expected === undefined ? { ok: false, message } : { ok: false, message, expected };

interface LeafOptions<T> {
  expected: string;
  /** JSON Schema of the input (type, pattern, bounds...) plus description/examples. */
  json: Record<string, unknown> & { description: string };
  parse: (v: unknown) => Parsed<T>;
  /** Default in the user form; the field becomes optional. */
  default?: unknown;
}

type Ctx = z.core.$RefinementCtx;

function addIssue(
  ctx: Ctx,
  input: unknown,
  message: string,
  params: JobIssueParams,
  path: PropertyKey[] = [],
): void {
  ctx.addIssue({ code: 'custom', message, input, params, path });
}

/** A hand-parsed leaf: unknown input, T output. */
type Leaf<T> = z.ZodPipe<z.ZodUnknown, z.ZodTransform<T>>;
type DefaultedLeaf<T> = z.ZodPrefault<Leaf<T>>;

function leaf<T>(o: LeafOptions<T> & { default: unknown }): DefaultedLeaf<T>;
function leaf<T>(o: LeafOptions<T> & { default?: undefined }): Leaf<T>;
function leaf<T>(o: LeafOptions<T>): Leaf<T> | DefaultedLeaf<T> {
  const emptyHint =
    o.default === undefined
      ? 'has no value'
      : `has no value (give one, or remove the field to use the default ${JSON.stringify(o.default)})`;
  const schema = z
    .unknown()
    .meta(o.json)
    .transform((input, ctx): T => {
      const r: Parsed<T> =
        input === undefined ? bad('is required') : input === null ? bad(emptyHint) : o.parse(input);
      if (r.ok) return r.value;
      addIssue(ctx, input, r.message, { expected: r.expected ?? o.expected });
      return z.NEVER;
    });
  return o.default === undefined ? schema : schema.prefault(o.default);
}

function looksNumeric(v: string): boolean {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(v);
}

function integerIn(min: number, max: number): (v: unknown) => Parsed<number> {
  return (v) => {
    if (typeof v === 'string' && looksNumeric(v)) return bad('is a string; write the number without quotes');
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad('must be an integer');
    if (!Number.isInteger(v)) return bad('must be a whole number');
    if (v < min) return bad(`must be at least ${min}`);
    if (v > max) return bad(`must be at most ${max}`);
    return ok(v);
  };
}

function integer(description: string, min: number, max: number): Leaf<number>;
function integer(description: string, min: number, max: number, dflt: number): DefaultedLeaf<number>;
function integer(
  description: string,
  min: number,
  max: number,
  dflt?: number,
): Leaf<number> | DefaultedLeaf<number> {
  const o = {
    expected: `an integer from ${min} to ${max}`,
    json: { type: 'integer', minimum: min, maximum: max, description },
    parse: integerIn(min, max),
  };
  return dflt === undefined ? leaf(o) : leaf({ ...o, default: dflt });
}

function boolean(description: string, dflt: boolean): DefaultedLeaf<boolean> {
  return leaf({
    expected: 'true or false',
    json: { type: 'boolean', description },
    parse: (v) => {
      if (typeof v === 'boolean') return ok(v);
      if (typeof v === 'string' && /^(true|false|yes|no|on|off)$/i.test(v.trim())) {
        return bad('is a string; write true or false without quotes');
      }
      return bad('must be true or false');
    },
    default: dflt,
  });
}

/** A string that must not be empty and must have no control characters. */
function plainString(v: unknown, what: string, max: number): Parsed<string> {
  if (typeof v === 'number' || typeof v === 'boolean') {
    return bad(`must be a string; quote it: "${String(v)}"`);
  }
  if (typeof v !== 'string') return bad(`must be ${what}`);
  if (v === '') return bad('must not be empty');
  if (v.length > max) return bad(`must be at most ${max} characters long`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return bad('must not contain control characters');
  return ok(v);
}

function formatMs(ms: number): string {
  if (ms === 0) return '0s';
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(`${rest}ms`);
  return parts.join('');
}

const DURATION_UNITS: Record<string, [string, number]> = {
  ms: ['ms', 1],
  msec: ['ms', 1],
  msecs: ['ms', 1],
  millisecond: ['ms', 1],
  milliseconds: ['ms', 1],
  s: ['s', 1],
  sec: ['s', 1],
  secs: ['s', 1],
  second: ['s', 1],
  seconds: ['s', 1],
  m: ['m', 1],
  min: ['m', 1],
  mins: ['m', 1],
  minute: ['m', 1],
  minutes: ['m', 1],
  h: ['h', 1],
  hr: ['h', 1],
  hrs: ['h', 1],
  hour: ['h', 1],
  hours: ['h', 1],
  d: ['h', 24],
  day: ['h', 24],
  days: ['h', 24],
};

function durationHint(text: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const unit = DURATION_UNITS[m[2].toLowerCase()];
  if (!unit) return undefined;
  return `${Number(m[1]) * unit[1]}${unit[0]}`;
}

function durationIn(min: number, max: number): (v: unknown) => Parsed<number> {
  return (v) => {
    if (v === 0) return ok(0);
    if (typeof v === 'number') {
      return bad(`needs a unit: write "${v}s" for seconds or "${v}ms" for milliseconds`);
    }
    if (typeof v !== 'string') return bad('must be a duration string');
    const r = parseDuration(v);
    if (!r.ok) {
      const hint = durationHint(v);
      return bad(
        hint !== undefined && hint !== v ? `is not a duration; did you mean "${hint}"?` : 'is not a duration',
      );
    }
    if (r.ms < min) return bad(`must be at least ${formatMs(min)}`);
    if (r.ms > max) return bad(`must be at most ${formatMs(max)}`);
    return ok(r.ms);
  };
}

function duration(description: string, min: number, max: number, dflt: string): DefaultedLeaf<number> {
  return leaf({
    expected: `a duration from ${formatMs(min)} to ${formatMs(max)}, such as 500ms, 2s, 5m or 1h30m`,
    json: {
      anyOf: [
        { type: 'string', pattern: DURATION_PATTERN },
        { type: 'integer', const: 0 },
      ],
      description,
      examples: ['500ms', '2s', '5m', '1h30m'],
    },
    parse: durationIn(min, max),
    default: dflt,
  });
}

function sizeHint(text: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt])(i)?b?\s*$/i.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return `${m[1]}${m[2].toUpperCase()}i`;
}

function parseMemory(v: unknown): Parsed<number> {
  const { min, max } = JOB_LIMITS.memoryBytes;
  let bytes: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) return bad('must be a whole number of bytes, or a size such as 64Mi');
    bytes = v;
  } else if (typeof v === 'string') {
    const r = parseSize(v);
    if (!r.ok) {
      if (/^\s*-/.test(v)) return bad('must not be negative');
      const hint = sizeHint(v);
      return bad(
        hint !== undefined
          ? `is not a size; did you mean "${hint}"?`
          : 'is not a size (units, case-sensitive: Ki, Mi, Gi, Ti, K, M, G, T)',
      );
    }
    bytes = r.bytes;
  } else {
    return bad('must be a size such as 64Mi');
  }
  if (bytes < min) return bad(`must be at least 1Mi (${min} bytes)`);
  if (bytes > max) return bad('must be at most 1Ti');
  return ok(bytes);
}

function parseCpu(v: unknown): Parsed<number> {
  let cores: number;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return bad('must be a number of cores');
    cores = v;
  } else if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+m$/.test(s)) cores = Number(s.slice(0, -1)) / 1000;
    else if (/^\d+(\.\d+)?$/.test(s)) cores = Number(s);
    else if (/^\d+\.\d+m$/.test(s)) return bad('millicores must be a whole number (use "250m", not "2.5m")');
    else return bad('is not a CPU amount');
  } else {
    return bad('must be a number of cores or millicores');
  }
  if (cores <= 0) return bad('must be greater than 0');
  if (cores > JOB_LIMITS.cpu.max) return bad(`must be at most ${JOB_LIMITS.cpu.max} cores`);
  const milli = Math.round(cores * 1000);
  if (milli === 0 || Math.abs(cores * 1000 - milli) > 1e-6) {
    return bad('is finer than the 1m (0.001 core) resolution');
  }
  return ok(milli / 1000);
}

function stringList(v: unknown, what: string): Parsed<unknown[]> {
  if (typeof v === 'string') {
    const words = v.trim().split(/\s+/).filter(Boolean);
    return bad(`must be a list of strings; write it as ${JSON.stringify(words.length ? words : [v])}`);
  }
  if (!Array.isArray(v)) return bad(`must be a list of strings (${what})`);
  if (v.length === 0) return bad('must not be empty');
  return ok(v as unknown[]);
}

/** Parses a non-empty list of strings, reporting each bad element at its index. */
function commandLeaf(description: string): Leaf<string[]> {
  const expected = 'a non-empty list of strings, e.g. ["httpd", "-f", "-p", "8080"]';
  return z
    .unknown()
    .meta({
      type: 'array',
      minItems: 1,
      items: { type: 'string' },
      description,
      examples: [['httpd', '-f', '-p', '8080']],
    })
    .transform((input, ctx): string[] => {
      const r: Parsed<unknown[]> =
        input === undefined
          ? bad('is required')
          : input === null
            ? bad('has no value')
            : stringList(input, 'program and arguments');
      if (!r.ok) {
        addIssue(ctx, input, r.message, { expected: r.expected ?? expected });
        return z.NEVER;
      }
      let good = true;
      r.value.forEach((item, i) => {
        if (typeof item === 'string') {
          if (i === 0 && item === '') {
            addIssue(ctx, item, 'the program name must not be empty', { expected: 'a program name' }, [i]);
            good = false;
          } else if (item.includes('\u0000')) {
            addIssue(ctx, item, 'must not contain NUL characters', { expected: 'a string' }, [i]);
            good = false;
          }
          return;
        }
        good = false;
        const hint =
          typeof item === 'number' || typeof item === 'boolean'
            ? `must be a string; quote it: "${String(item)}"`
            : 'must be a string';
        addIssue(ctx, item, hint, { expected: 'a string' }, [i]);
      });
      return good ? (r.value as string[]) : z.NEVER;
    });
}

function portRef(description: string): Leaf<string | number> {
  return leaf<string | number>({
    expected: 'the name of a port declared in task.ports, or a port number from 1 to 65535',
    json: {
      anyOf: [
        { type: 'string', pattern: PORT_NAME_PATTERN.source },
        { type: 'integer', minimum: 1, maximum: 65535 },
      ],
      description,
      examples: ['http', 8080],
    },
    parse: (v) => {
      if (typeof v === 'number') return integerIn(1, 65535)(v);
      if (typeof v === 'string') {
        if (/^\d+$/.test(v)) return bad('is a string; write the port number without quotes');
        if (!PORT_NAME_PATTERN.test(v)) return bad('is not a valid port name');
        return ok(v);
      }
      return bad('must be a port name or number');
    },
  });
}

function enumLeaf<T extends string>(description: string, values: readonly T[], dflt: T): DefaultedLeaf<T> {
  return leaf<T>({
    expected: `one of: ${values.join(', ')}`,
    json: { type: 'string', enum: values, description },
    parse: (v) => {
      if (typeof v === 'string' && (values as readonly string[]).includes(v)) return ok(v as T);
      const near = typeof v === 'string' ? closest(v.trim().toLowerCase(), values) : undefined;
      return bad(near !== undefined ? `is not valid; did you mean "${near}"?` : 'is not valid');
    },
    default: dflt,
  });
}

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const cols = b.length + 1;
  const d: number[] = new Array<number>((a.length + 1) * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j] ?? 0;
  for (let i = 0; i <= a.length; i++) d[i * cols] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, at(i - 2, j - 2) + 1);
      d[i * cols + j] = v;
    }
  }
  return at(a.length, b.length);
}

/** The candidate closest to `word` if it is close enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const OBJECT_RUNS = { when: (p: z.core.ParsePayload) => isRecord(p.value) };

/** Run a cross-field check as soon as the fields it reads are valid, whatever else is wrong. */
function fieldsValid(...fields: string[]): { when: (p: z.core.ParsePayload) => boolean } {
  return {
    when: (p) =>
      isRecord(p.value) && !p.issues.some((i) => i.path !== undefined && fields.includes(String(i.path[0]))),
  };
}

// ---------------------------------------------------------------------------------------------
// Task.

const NAME_RULE = '1-63 lowercase letters, digits or "-", starting and ending with a letter or digit';

const nameLeaf = leaf<string>({
  expected: NAME_RULE,
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    minLength: 1,
    maxLength: 63,
    description: `Job name, unique in its namespace: ${NAME_RULE}. Used in task ids, host names and keys.`,
    examples: ['hello', 'web-frontend'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 63);
    if (!s.ok) return s;
    if (NAME_PATTERN.test(s.value)) return s;
    const fixed = s.value
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '');
    return bad(
      NAME_PATTERN.test(fixed) ? `is not a valid name; did you mean "${fixed}"?` : 'is not a valid name',
    );
  },
});

const imageLeaf = leaf<string>({
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

const workingDirLeaf = leaf<string>({
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

const configPathLeaf = leaf<string>({
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

const configMountLeaf = leaf<string>({
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

const onChangeLeaf = leaf<ConfigOnChange>({
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

const taskConfigsSchema = z
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

const envLeaf = z
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

const resourcesSchema = z
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

const protocolLeaf = leaf<PortProtocol>({
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

const portSchema = z
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

const portsSchema = z
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

function httpPathLeaf(description: string, dflt: string): DefaultedLeaf<string> {
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

const metricsSchema = z
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

const PROBE_ACTIONS = ['http', 'tcp', 'exec'] as const;

function probeSchema(description: string) {
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
      };
    });
}

const healthSchema = z
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

const restartSchema = z
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

const taskSchema = z
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
    };
  });

// ---------------------------------------------------------------------------------------------
// Update and placement.

const rolloutCount = (description: string, dflt: number): DefaultedLeaf<number> =>
  integer(description, JOB_LIMITS.rolloutCount.min, JOB_LIMITS.rolloutCount.max, dflt);

const updateSchema = z
  .strictObject({
    maxUnavailable: rolloutCount(
      'How many tasks may be unavailable at once during a rollout (below replicas).',
      JOB_DEFAULTS.maxUnavailable,
    ),
    maxSurge: rolloutCount(
      'How many extra tasks may run at once during a rollout (above replicas).',
      JOB_DEFAULTS.maxSurge,
    ),
    canary: rolloutCount(
      'Number of new-version tasks started first, as canaries; the rest of the rollout waits until they are healthy and promoted (see autoPromote).',
      JOB_DEFAULTS.canary,
    ),
    minHealthy: duration(
      'A new task must be healthy this long before it counts as available.',
      JOB_LIMITS.minHealthyMs.min,
      JOB_LIMITS.minHealthyMs.max,
      JOB_DEFAULTS.minHealthy,
    ),
    deadline: duration(
      'A rollout that has not finished this long after it started fails.',
      JOB_LIMITS.deadlineMs.min,
      JOB_LIMITS.deadlineMs.max,
      JOB_DEFAULTS.deadline,
    ),
    autoRollback: boolean(
      'Roll back to the last good version when the rollout fails.',
      JOB_DEFAULTS.autoRollback,
    ),
    autoPromote: boolean('Promote canaries automatically once they are healthy.', JOB_DEFAULTS.autoPromote),
  })
  .meta({ description: 'How a new version rolls out.' })
  .superRefine(
    (u, ctx) => {
      if (u.maxUnavailable === 0 && u.maxSurge === 0) {
        addIssue(
          ctx,
          0,
          'maxUnavailable and maxSurge cannot both be 0 (the rollout could never progress)',
          { expected: 'maxUnavailable or maxSurge of at least 1' },
          ['maxUnavailable'],
        );
      }
    },
    fieldsValid('maxUnavailable', 'maxSurge'),
  )
  .superRefine(
    (u, ctx) => {
      if (u.deadline <= u.minHealthy) {
        addIssue(
          ctx,
          formatMs(u.deadline),
          `must be longer than minHealthy (${formatMs(u.minHealthy)})`,
          { expected: `a duration longer than ${formatMs(u.minHealthy)}` },
          ['deadline'],
        );
      }
    },
    fieldsValid('minHealthy', 'deadline'),
  )
  .transform((u): UpdateSpec => ({
    maxUnavailable: u.maxUnavailable,
    maxSurge: u.maxSurge,
    canary: u.canary,
    minHealthyMs: u.minHealthy,
    deadlineMs: u.deadline,
    autoRollback: u.autoRollback,
    autoPromote: u.autoPromote,
  }))
  .prefault({});

function attributeLeaf(description: string): Leaf<string> {
  return leaf<string>({
    expected: 'a host attribute (label) name such as rack, region or zone',
    json: {
      type: 'string',
      pattern: ATTRIBUTE_PATTERN.source,
      maxLength: JOB_LIMITS.attribute.max,
      description,
      examples: ['rack', 'region', 'zone'],
    },
    parse: (v) => {
      const s = plainString(v, 'a string', JOB_LIMITS.attribute.max);
      if (!s.ok) return s;
      return ATTRIBUTE_PATTERN.test(s.value) ? s : bad('is not a valid attribute name');
    },
  });
}

function valueLeaf(description: string): Leaf<string> {
  return leaf<string>({
    expected: 'a string',
    json: { type: 'string', description },
    parse: (v) => {
      if (typeof v === 'number' || typeof v === 'boolean') {
        return bad(`must be a string; quote it: "${String(v)}"`);
      }
      return typeof v === 'string' ? ok(v) : bad('must be a string');
    },
  });
}

const spreadSchema = z
  .strictObject({
    attribute: attributeLeaf('Host attribute whose values are the fault domains (e.g. rack).'),
    min: integer(
      'Fault-domain intent: place the tasks across at least this many distinct values of the attribute.',
      JOB_LIMITS.spreadMin.min,
      JOB_LIMITS.spreadMin.max,
    ).optional(),
  })
  .meta({ description: 'Spread tasks evenly across the values of a host attribute.' })
  .transform((s): SpreadSpec =>
    s.min === undefined ? { attribute: s.attribute } : { attribute: s.attribute, min: s.min },
  );

const CONSTRAINT_OPS = ['equals', 'in', 'not', 'regex'] as const;

const constraintSchema = z
  .strictObject({
    attribute: attributeLeaf('Host attribute (label) the constraint tests.'),
    equals: valueLeaf('The attribute must have exactly this value.').optional(),
    in: leaf<string[]>({
      expected: 'a non-empty list of strings',
      json: {
        type: 'array',
        minItems: 1,
        items: { type: 'string' },
        description: 'The attribute must have one of these values.',
      },
      parse: (v) => {
        const r = stringList(v, 'allowed values');
        if (!r.ok) return r;
        const badItem = r.value.findIndex((x) => typeof x !== 'string');
        if (badItem >= 0) {
          const item = r.value[badItem];
          return bad(
            typeof item === 'number' || typeof item === 'boolean'
              ? `item ${badItem} must be a string; quote it: "${String(item)}"`
              : `item ${badItem} must be a string`,
          );
        }
        return ok(r.value as string[]);
      },
    }).optional(),
    not: valueLeaf('The attribute must not have this value (hosts without the attribute pass).').optional(),
    regex: leaf<string>({
      expected: 'a valid regular expression',
      json: {
        type: 'string',
        format: 'regex',
        description:
          'The attribute value must match this (JavaScript) regular expression; not anchored, use ^...$.',
      },
      parse: (v) => {
        if (typeof v !== 'string') return bad('must be a string');
        try {
          new RegExp(v, 'u');
          return ok(v);
        } catch (e) {
          return bad(`is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
        }
      },
    }).optional(),
  })
  .meta({
    description:
      'A hard placement rule: tasks only go to hosts whose attribute passes. Exactly one operator.',
    oneOf: CONSTRAINT_OPS.map((op) => ({ required: [op] })),
  })
  .superRefine((c, ctx) => {
    const present = CONSTRAINT_OPS.filter((op) => (c as Record<string, unknown>)[op] !== undefined);
    if (present.length === 0) {
      addIssue(ctx, undefined, 'needs an operator: one of equals, in, not or regex', {
        expected: 'exactly one of equals, in, not, regex',
      });
    } else if (present.length > 1) {
      addIssue(
        ctx,
        undefined,
        `has more than one operator (${present.join(', ')}); use one constraint per operator`,
        { expected: 'exactly one of equals, in, not, regex', atKey: true },
        [present[1] ?? 'regex'],
      );
    }
  }, OBJECT_RUNS)
  .transform((c): Constraint => {
    const a = c.attribute;
    if (c.equals !== undefined) return { attribute: a, equals: c.equals };
    if (c.in !== undefined) return { attribute: a, in: c.in };
    if (c.not !== undefined) return { attribute: a, not: c.not };
    if (c.regex !== undefined) return { attribute: a, regex: c.regex };
    throw new Error('unreachable: constraint without operator passed validation');
  });

function maxItems(max: number, what: string) {
  return {
    check: (items: unknown[], ctx: Ctx): void => {
      if (items.length > max)
        addIssue(ctx, items.length, `has more than ${max} ${what}`, { expected: `at most ${max} ${what}` });
    },
    when: (p: z.core.ParsePayload): boolean => Array.isArray(p.value),
  };
}

const spreadRule = maxItems(JOB_LIMITS.spread.max, 'spread rules');
const constraintRule = maxItems(JOB_LIMITS.constraints.max, 'constraints');

const placementSchema = z
  .strictObject({
    spread: z
      .array(spreadSchema)
      .meta({ maxItems: JOB_LIMITS.spread.max, description: 'Fault-domain spread, most important first.' })
      .superRefine(
        (spread, ctx) => {
          spreadRule.check(spread, ctx);
          const seen = new Map<string, number>();
          spread.forEach((s: unknown, i) => {
            if (!isRecord(s) || typeof s['attribute'] !== 'string') return;
            const first = seen.get(s['attribute']);
            if (first === undefined) seen.set(s['attribute'], i);
            else {
              addIssue(
                ctx,
                s['attribute'],
                `duplicate spread attribute (already in placement.spread[${first}])`,
                { expected: 'each attribute once' },
                [i, 'attribute'],
              );
            }
          });
        },
        { when: spreadRule.when },
      )
      .prefault([]),
    constraints: z
      .array(constraintSchema)
      .meta({
        maxItems: JOB_LIMITS.constraints.max,
        description: 'Hard rules; a host must pass all of them.',
      })
      .superRefine(constraintRule.check, { when: constraintRule.when })
      .prefault([]),
  })
  .meta({ description: 'Where tasks may go.' })
  .transform((p): PlacementSpec => ({ spread: p.spread, constraints: p.constraints }))
  .prefault({});

const namespaceLeaf = leaf<string>({
  expected: NAME_RULE,
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    minLength: 1,
    maxLength: 63,
    description: `Namespace the job belongs to (absent: "default"): ${NAME_RULE}. Tokens are granted namespaces; a namespace may have a quota.`,
    examples: ['default', 'team-a'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 63);
    if (!s.ok) return s;
    return NAME_PATTERN.test(s.value) ? s : bad('is not a valid namespace name');
  },
});

const taskControlUrlLeaf = leaf<string>({
  expected: 'an http:// or https:// URL such as http://10.0.0.5:9000/taskcontrol',
  json: {
    type: 'string',
    pattern: '^https?://\\S+$',
    maxLength: 2048,
    description:
      "URL of the job's TaskControl controller: Dabba POSTs the pending disruptive operations on the job's tasks there and waits for its acknowledgement (see docs/taskcontrol.md).",
    examples: ['http://127.0.0.1:9000/taskcontrol'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', 2048);
    if (!s.ok) return s;
    let u: URL;
    try {
      u = new URL(s.value);
    } catch {
      return bad('is not a URL');
    }
    return u.protocol === 'http:' || u.protocol === 'https:' ? s : bad('must be an http:// or https:// URL');
  },
});

const taskControlSchema = z
  .strictObject({
    url: taskControlUrlLeaf,
    timeout: duration('How long one request to the controller may take.', 100, 60 * SECOND, '5s'),
    hostFailureWait: duration(
      'After a host fails, how long replacing its tasks waits for the controller to acknowledge (then they are replaced anyway).',
      0,
      DAY,
      '1m',
    ),
  })
  .meta({
    description:
      "The job's TaskControl controller: every disruptive operation on its tasks (replace, move, restart, maintenance) waits for its acknowledgement; operations with a deadline proceed at it.",
  })
  .transform((c): TaskControlSpec => ({
    url: c.url,
    timeoutMs: c.timeout,
    hostFailureWaitMs: c.hostFailureWait,
  }));

// ---------------------------------------------------------------------------------------------
// The job file.

export const jobFileSchema = z
  .strictObject({
    $schema: z
      .string()
      .meta({ description: 'URL or path of this JSON Schema, for editors; ignored by Dabba.' })
      .optional(),
    name: nameLeaf,
    namespace: namespaceLeaf.optional(),
    replicas: integer(
      'Number of tasks to run.',
      JOB_LIMITS.replicas.min,
      JOB_LIMITS.replicas.max,
      JOB_DEFAULTS.replicas,
    ),
    task: taskSchema,
    update: updateSchema,
    placement: placementSchema,
    taskControl: taskControlSchema.optional(),
  })
  .meta({
    title: 'Dabba job',
    description: 'A Dabba job: a service of identical tasks. See docs/job-file.md.',
  })
  .transform((j): JobSpec => ({
    name: j.name,
    // Left out when it is the default, so specs stored before namespaces existed compare equal.
    ...(j.namespace === undefined || j.namespace === 'default' ? {} : { namespace: j.namespace }),
    replicas: j.replicas,
    task: j.task,
    update: j.update,
    placement: j.placement,
    ...(j.taskControl === undefined ? {} : { taskControl: j.taskControl }),
  }));

export type JobFileInput = z.input<typeof jobFileSchema>;

// Compile-time check: the schema's output is exactly the normalized JobSpec.
type Assert<T extends true> = T;
type _OutputIsJobSpec = Assert<z.output<typeof jobFileSchema> extends JobSpec ? true : false>;
type _JobSpecIsOutput = Assert<JobSpec extends z.output<typeof jobFileSchema> ? true : false>;

/** JSON Schema of the user form (what editors complete against), as in schema/job.schema.json. */
export function jobJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(jobFileSchema, { io: 'input', target: 'draft-2020-12' });
}

/** The exact text of schema/job.schema.json. */
export function jobSchemaFileText(): string {
  return `${JSON.stringify(jobJsonSchema(), null, 2)}\n`;
}

/** Exact user-form spellings used by toUserForm (so that they parse back to the same numbers). */
export function formatExactDuration(ms: number): string {
  return formatMs(ms);
}
