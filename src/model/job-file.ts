/**
 * Reading job files: YAML (or JSON, a subset of YAML) text -> JobSpec, with every problem reported at
 * once as ValidationIssues located by line and column; and JobSpec -> user form for the wire.
 */
import { batchToUser } from './job-schema/batch.ts';
import { scalingToUser } from './job-schema/elastic.ts';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import type { JobSpec, ProbeSpec } from './job.ts';
import { portProtocol } from './job.ts';
import { closest, formatExactDuration, JOB_DEFAULTS, jobFileSchema } from './job-schema.ts';
import { VOLUME_WAIT_DEFAULT_MS } from './job-schema/limits.ts';
import type { JobIssueParams } from './job-schema.ts';

export type JobValidationResult = { ok: true; spec: JobSpec } | { ok: false; issues: ValidationIssue[] };

type Path = readonly PropertyKey[];

/** An issue before it is placed in the file: its raw path and whether it is about a map key. */
interface RawIssue {
  issue: ValidationIssue;
  path: Path;
  atKey: boolean;
}

/**
 * Parses and validates a job file; `file` only labels the issues. A YAML syntax error (or a second
 * document) is reported alone, as nothing after it can be trusted; otherwise duplicate keys, YAML
 * warnings and every schema error come back together, each with line and column, in file order.
 */
export function parseJobFile(text: string, file: string): JobValidationResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: false, // reported below, with the path and the first occurrence
    merge: true,
    strict: true,
  });
  const pos = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const issues: ValidationIssue[] = [];

  for (const e of doc.errors) {
    const message =
      e.code === 'MULTIPLE_DOCS'
        ? 'a job file holds one YAML document, but a second one starts here (remove the "---" line or split the file)'
        : `invalid YAML: ${firstLine(e.message)}`;
    issues.push({ path: '', message, file, ...pos(e.pos[0]) });
  }
  if (issues.length > 0) return { ok: false, issues: sortByPosition(issues) };

  for (const w of doc.warnings) {
    issues.push({ path: '', message: `invalid YAML: ${firstLine(w.message)}`, file, ...pos(w.pos[0]) });
  }
  let danglingAlias = false;
  visit(doc, {
    Alias(_, node) {
      if (node.resolve(doc) === undefined) {
        danglingAlias = true;
        const at = node.range?.[0] ?? 0;
        issues.push({ path: '', message: `alias *${node.source} has no anchor before it`, file, ...pos(at) });
      }
    },
  });
  findDuplicateKeys(doc.contents, [], (path, key, first) => {
    const f = pos(first.range?.[0] ?? 0);
    issues.push({
      path: formatPath(path),
      message: `duplicate key "${String(path.at(-1))}" (first defined at line ${f.line}, column ${f.column})`,
      file,
      ...pos(key.range?.[0] ?? 0),
    });
  });
  if (danglingAlias) return { ok: false, issues: sortByPosition(issues) };

  if (doc.contents === null) {
    issues.push({
      path: '',
      message: 'the job file is empty (it needs at least name and task)',
      expected: 'a mapping',
      file,
      line: 1,
      column: 1,
    });
    return { ok: false, issues };
  }

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    issues.push({
      path: '',
      message: `invalid YAML: ${e instanceof Error ? e.message : String(e)}`,
      file,
      line: 1,
      column: 1,
    });
    return { ok: false, issues: sortByPosition(issues) };
  }

  const result = jobFileSchema.safeParse(value, { reportInput: true });
  if (result.success && issues.length === 0) return { ok: true, spec: result.data };
  if (!result.success) {
    for (const raw of convertIssues(result.error.issues)) {
      issues.push({ ...raw.issue, file, ...locate(doc, raw.path, raw.atKey, pos) });
    }
  }
  return { ok: false, issues: sortByPosition(issues) };
}

/** Validates a job in user form that arrived as a JSON value (API bodies). Issues carry paths only. */
export function validateJob(value: unknown): JobValidationResult {
  const result = jobFileSchema.safeParse(value, { reportInput: true });
  if (result.success) return { ok: true, spec: result.data };
  return { ok: false, issues: convertIssues(result.error.issues).map((r) => r.issue) };
}

/** Compiler-style lines: `file:line:col: path: message (expected X, found Y)`. */
export function formatIssues(issues: readonly ValidationIssue[]): string {
  return issues.map(formatIssue).join('\n');
}

export function formatIssue(i: ValidationIssue): string {
  let loc = '';
  if (i.file !== undefined) loc = i.file;
  if (i.line !== undefined) loc += `${loc ? ':' : ''}${i.line}:${i.column ?? 1}`;
  const extra: string[] = [];
  if (i.expected !== undefined) extra.push(`expected ${i.expected}`);
  if (i.found !== undefined) extra.push(`found ${i.found}`);
  return `${loc ? `${loc}: ` : ''}${i.path ? `${i.path}: ` : ''}${i.message}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Zod issues -> ValidationIssues.

function convertIssues(zodIssues: readonly z.core.$ZodIssue[]): RawIssue[] {
  return zodIssues.flatMap(convertIssue);
}

function convertIssue(iss: z.core.$ZodIssue): RawIssue[] {
  const path = iss.path;
  const input = (iss as { input?: unknown }).input;
  const make = (fields: Omit<ValidationIssue, 'path'>, p: Path = path, atKey = false): RawIssue => ({
    issue: { path: formatPath(p), ...fields },
    path: p,
    atKey,
  });
  switch (iss.code) {
    case 'unrecognized_keys': {
      const known = knownFields(path);
      return iss.keys.map((key) => {
        const suggestion = known ? suggestField(key, known) : undefined;
        return make(
          {
            message: `unknown field "${key}"${suggestion === undefined ? '' : `; did you mean "${suggestion}"?`}`,
            ...(known ? { expected: `one of: ${known.join(', ')}` } : {}),
          },
          [...path, key],
          true,
        );
      });
    }
    case 'invalid_type': {
      const expected = typeNoun(iss.expected);
      if (input === undefined) {
        return [make({ message: 'is required', ...(expected === undefined ? {} : { expected }) })];
      }
      if (path.length === 0) {
        return [
          make({
            message: 'a job file must be a mapping of fields (name, replicas, task, update, placement)',
            expected: 'a mapping',
            found: describeValue(input),
          }),
        ];
      }
      return [
        make({
          message: input === null ? 'has no value' : `must be ${expected ?? iss.expected}`,
          expected: expected ?? iss.expected,
          found: describeValue(input),
        }),
      ];
    }
    case 'custom': {
      const params = (iss.params ?? {}) as JobIssueParams;
      return [
        make(
          {
            message: iss.message,
            ...(params.expected === undefined ? {} : { expected: params.expected }),
            ...(input === undefined || params.atKey ? {} : { found: describeValue(input) }),
          },
          path,
          params.atKey === true,
        ),
      ];
    }
    default:
      return [
        make({ message: iss.message, ...(input === undefined ? {} : { found: describeValue(input) }) }),
      ];
  }
}

function typeNoun(t: string): string | undefined {
  switch (t) {
    case 'object':
    case 'record':
      return 'a mapping';
    case 'array':
      return 'a list';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'int':
      return 'an integer';
    case 'boolean':
      return 'true or false';
    case 'nonoptional':
      return undefined;
    default:
      return t;
  }
}

/** How a found value is shown: strings quoted (and shortened), lists and mappings by kind. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v;
    return JSON.stringify(s);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

/** `task.ports[1].name`; keys that are not identifiers are quoted: `task.env["A.B"]`. */
export function formatPath(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const s = String(seg);
      if (/^[A-Za-z_$][A-Za-z0-9_-]*$/.test(s)) out += out ? `.${s}` : s;
      else out += `[${JSON.stringify(s)}]`;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Field names, for "did you mean".

interface DefLike {
  type: string;
  in?: unknown;
  innerType?: unknown;
  shape?: Record<string, unknown>;
  element?: unknown;
}

/** The fields the schema knows at `path` (for an object there), or undefined. */
export function knownFields(path: Path): string[] | undefined {
  let schema: unknown = jobFileSchema;
  let i = 0;
  for (let guard = 0; guard < 200; guard++) {
    const def = (schema as { _zod?: { def?: DefLike } })._zod?.def;
    if (!def) return undefined;
    switch (def.type) {
      case 'pipe':
        schema = def.in;
        break;
      case 'optional':
      case 'prefault':
      case 'default':
      case 'nullable':
      case 'readonly':
        schema = def.innerType;
        break;
      case 'object': {
        if (i === path.length) return Object.keys(def.shape ?? {}).filter((k) => k !== '$schema');
        schema = def.shape?.[String(path[i++])];
        if (schema === undefined) return undefined;
        break;
      }
      case 'array':
        if (i === path.length) return undefined;
        i++;
        schema = def.element;
        break;
      default:
        return undefined;
    }
  }
  return undefined;
}

/** Common names from other systems, mapped to ours (used only if the target is valid there). */
const ALIASES: Record<string, string> = {
  count: 'replicas',
  instances: 'replicas',
  replica: 'replicas',
  cmd: 'command',
  args: 'command',
  entrypoint: 'command',
  environment: 'env',
  envs: 'env',
  workdir: 'workingDir',
  cwd: 'workingDir',
  dir: 'workingDir',
  mem: 'memory',
  ram: 'memory',
  cpus: 'cpu',
  processes: 'pids',
  healthcheck: 'health',
  probes: 'health',
  livenessprobe: 'liveness',
  readinessprobe: 'readiness',
  httpget: 'http',
  tcpsocket: 'tcp',
  period: 'interval',
  periodseconds: 'interval',
  timeoutseconds: 'timeout',
  failurethreshold: 'failures',
  successthreshold: 'successes',
  initialdelayseconds: 'initialDelay',
  restartpolicy: 'restart',
  terminationgraceperiod: 'stopGracePeriod',
  killtimeout: 'stopGracePeriod',
  strategy: 'update',
  rollout: 'update',
  affinity: 'placement',
  constraint: 'constraints',
  containerport: 'port',
  value: 'equals',
  operator: 'equals',
};

export function suggestField(word: string, candidates: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/[-_\s]/g, '');
  const w = norm(word);
  const exact = candidates.find((c) => norm(c) === w);
  if (exact !== undefined) return exact;
  const alias = ALIASES[w];
  if (alias !== undefined && candidates.includes(alias)) return alias;
  const normalized = candidates.map(norm);
  const near = closest(w, normalized);
  if (near !== undefined) return candidates[normalized.indexOf(near)];
  // A prefix is a strong hint too ("max" -> "maxSurge" is ambiguous, "initial" -> "initialDelay" is not).
  const prefixed = candidates.filter((c) => w.length >= 3 && norm(c).startsWith(w));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

// ---------------------------------------------------------------------------------------------
// YAML positions.

export type Pos = (offset: number) => { line: number; column: number };

function keyString(key: unknown): string | undefined {
  return isScalar(key) ? String(key.value) : undefined;
}

function startOf(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
  return range?.[0];
}

/**
 * Where a path points in the document: the value for a scalar, the key for a collection or a
 * problem with the key itself, and the closest parent key for a field that is missing.
 */
export function locate(
  doc: Document,
  path: Path,
  atKey: boolean,
  pos: Pos,
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let key: unknown = undefined; // key node of the pair holding `node`
  const here = (): { line: number; column: number } => pos(startOf(key) ?? startOf(node) ?? 0);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => keyString(p.key) === String(seg));
      if (!pair) return here(); // missing field: its parent
      if (i === path.length - 1 && atKey) return pos(startOf(pair.key) ?? startOf(node) ?? 0);
      key = pair.key;
      node = pair.value;
      if (node === null) return here();
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (item === undefined) return here();
      key = undefined;
      node = item;
    } else {
      return here(); // the path goes deeper than the document (a scalar where a mapping was expected)
    }
  }
  if (isAlias(node)) return pos(startOf(node) ?? 0);
  if ((isMap(node) || isSeq(node)) && key !== undefined) return here();
  return pos(startOf(node) ?? startOf(key) ?? 0);
}

export function findDuplicateKeys(
  node: unknown,
  path: PropertyKey[],
  report: (path: PropertyKey[], key: YamlNode, first: YamlNode) => void,
): void {
  if (isMap(node)) {
    const seen = new Map<string, YamlNode>();
    for (const pair of node.items) {
      const k = keyString(pair.key);
      if (k !== undefined && k !== '<<' && isScalar(pair.key)) {
        const first = seen.get(k);
        if (first !== undefined) report([...path, k], pair.key, first);
        else seen.set(k, pair.key);
      }
      findDuplicateKeys(pair.value, [...path, k ?? '?'], report);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...path, i], report));
  }
}

export function firstLine(message: string): string {
  return message.split('\n')[0] ?? message;
}

export function sortByPosition(issues: ValidationIssue[]): ValidationIssue[] {
  return issues
    .map((issue, index) => ({ issue, index }))
    .sort(
      (a, b) =>
        (a.issue.line ?? 0) - (b.issue.line ?? 0) ||
        (a.issue.column ?? 0) - (b.issue.column ?? 0) ||
        a.index - b.index,
    )
    .map((x) => x.issue);
}

// ---------------------------------------------------------------------------------------------
// JobSpec -> user form.

const SIZE_UNITS: [string, number][] = [
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

function probeToUser(p: ProbeSpec): Record<string, unknown> {
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
