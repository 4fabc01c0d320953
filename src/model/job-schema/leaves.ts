/**
 * The job file's leaves: parse functions with precise messages (what, where, what a valid value
 * looks like) and the helpers the schemas share.
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { parseDuration } from '../../lib/durations.ts';
import { parseSize } from '../../lib/sizes.ts';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { JobIssueParams } from './limits.ts';
import { DURATION_PATTERN, HOUR, JOB_LIMITS, MINUTE, PORT_NAME_PATTERN, SECOND } from './limits.ts';

// ---------------------------------------------------------------------------------------------
// Leaves: parse functions with precise messages.

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string; expected?: string };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const bad = (message: string, expected?: string): Parsed<never> =>
  expected === undefined ? { ok: false, message } : { ok: false, message, expected };

export interface LeafOptions<T> {
  expected: string;
  /** JSON Schema of the input (type, pattern, bounds...) plus description/examples. */
  json: Record<string, unknown> & { description: string };
  parse: (v: unknown) => Parsed<T>;
  /** Default in the user form; the field becomes optional. */
  default?: unknown;
}

export type Ctx = z.core.$RefinementCtx;

export function addIssue(
  ctx: Ctx,
  input: unknown,
  message: string,
  params: JobIssueParams,
  path: PropertyKey[] = [],
): void {
  ctx.addIssue({ code: 'custom', message, input, params, path });
}

/** A hand-parsed leaf: unknown input, T output. */
export type Leaf<T> = z.ZodPipe<z.ZodUnknown, z.ZodTransform<T>>;
export type DefaultedLeaf<T> = z.ZodPrefault<Leaf<T>>;

export function leaf<T>(o: LeafOptions<T> & { default: unknown }): DefaultedLeaf<T>;
export function leaf<T>(o: LeafOptions<T> & { default?: undefined }): Leaf<T>;
export function leaf<T>(o: LeafOptions<T>): Leaf<T> | DefaultedLeaf<T> {
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

export function looksNumeric(v: string): boolean {
  return /^\s*-?\d+(\.\d+)?\s*$/.test(v);
}

export function integerIn(min: number, max: number): (v: unknown) => Parsed<number> {
  return (v) => {
    if (typeof v === 'string' && looksNumeric(v)) return bad('is a string; write the number without quotes');
    if (typeof v !== 'number' || !Number.isFinite(v)) return bad('must be an integer');
    if (!Number.isInteger(v)) return bad('must be a whole number');
    if (v < min) return bad(`must be at least ${min}`);
    if (v > max) return bad(`must be at most ${max}`);
    return ok(v);
  };
}

export function integer(description: string, min: number, max: number): Leaf<number>;
export function integer(description: string, min: number, max: number, dflt: number): DefaultedLeaf<number>;
export function integer(
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

export function boolean(description: string, dflt: boolean): DefaultedLeaf<boolean> {
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
export function plainString(v: unknown, what: string, max: number): Parsed<string> {
  if (typeof v === 'number' || typeof v === 'boolean') {
    return bad(`must be a string; quote it: "${String(v)}"`);
  }
  if (typeof v !== 'string') return bad(`must be ${what}`);
  if (v === '') return bad('must not be empty');
  if (v.length > max) return bad(`must be at most ${max} characters long`);
  if (hasControlCharacter(v)) return bad('must not contain control characters');
  return ok(v);
}

/** Whether `v` holds a C0 control character or DEL (U+0000-U+001F, U+007F). */
function hasControlCharacter(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function formatMs(ms: number): string {
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

export const DURATION_UNITS: Record<string, [string, number]> = {
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

export function durationHint(text: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*$/.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  const unit = DURATION_UNITS[m[2].toLowerCase()];
  if (!unit) return undefined;
  return `${Number(m[1]) * unit[1]}${unit[0]}`;
}

export function durationIn(min: number, max: number): (v: unknown) => Parsed<number> {
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

export function duration(description: string, min: number, max: number, dflt: string): DefaultedLeaf<number> {
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

export function sizeHint(text: string): string | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt])(i)?b?\s*$/i.exec(text);
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return `${m[1]}${m[2].toUpperCase()}i`;
}

/** A size in bytes or with a unit (`64Mi`), within limits; `example` and `maxText` for messages. */
export function parseBoundedSize(
  v: unknown,
  o: { min: number; max: number; example: string; maxText: string },
): Parsed<number> {
  let bytes: number;
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0)
      return bad(`must be a whole number of bytes, or a size such as ${o.example}`);
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
    return bad(`must be a size such as ${o.example}`);
  }
  if (bytes < o.min) return bad(`must be at least 1Mi (${o.min} bytes)`);
  if (bytes > o.max) return bad(`must be at most ${o.maxText}`);
  return ok(bytes);
}

export function parseMemory(v: unknown): Parsed<number> {
  return parseBoundedSize(v, { ...JOB_LIMITS.memoryBytes, example: '64Mi', maxText: '1Ti' });
}

export function parseCpu(v: unknown): Parsed<number> {
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

export function stringList(v: unknown, what: string): Parsed<unknown[]> {
  if (typeof v === 'string') {
    const words = v.trim().split(/\s+/).filter(Boolean);
    return bad(`must be a list of strings; write it as ${JSON.stringify(words.length ? words : [v])}`);
  }
  if (!Array.isArray(v)) return bad(`must be a list of strings (${what})`);
  if (v.length === 0) return bad('must not be empty');
  return ok(v as unknown[]);
}

/** Parses a non-empty list of strings, reporting each bad element at its index. */
export function commandLeaf(description: string): Leaf<string[]> {
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

export function portRef(description: string): Leaf<string | number> {
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

export function enumLeaf<T extends string>(
  description: string,
  values: readonly T[],
  dflt: T,
): DefaultedLeaf<T> {
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

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export const OBJECT_RUNS = { when: (p: z.core.ParsePayload) => isRecord(p.value) };

/** Run a cross-field check as soon as the fields it reads are valid, whatever else is wrong. */
export function fieldsValid(...fields: string[]): { when: (p: z.core.ParsePayload) => boolean } {
  return {
    when: (p) =>
      isRecord(p.value) && !p.issues.some((i) => i.path !== undefined && fields.includes(String(i.path[0]))),
  };
}

/** A DNS-label name (jobs, volumes): a wrong one gets a corrected suggestion where there is one. */
export function parseName(v: unknown): Parsed<string> {
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
}
