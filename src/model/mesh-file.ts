/**
 * Reading the dependency file: YAML text -> MeshConfig, every problem at once with line and column
 * (as job files); MeshConfig -> user form; and the difference between two files, per service and
 * per setting.
 */
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import type { ValidationIssue } from '../errors/dabba-error.ts';
import { formatDuration } from '../lib/durations.ts';
import {
  describeValue,
  findDuplicateKeys,
  firstLine,
  formatPath,
  locate,
  sortByPosition,
} from './job-file.ts';
import type { MeshChange, MeshConfig, ServiceMesh } from './mesh.ts';
import { meshFileSchema } from './mesh-schema.ts';

export type MeshValidationResult =
  { ok: true; config: MeshConfig } | { ok: false; issues: ValidationIssue[] };

interface RawIssue {
  issue: ValidationIssue;
  path: readonly PropertyKey[];
  atKey: boolean;
}

function convert(iss: z.core.$ZodIssue): RawIssue[] {
  const input = (iss as { input?: unknown }).input;
  const make = (message: string, path: readonly PropertyKey[] = iss.path, atKey = false): RawIssue => ({
    issue: {
      path: formatPath(path),
      message,
      ...(input === undefined || atKey ? {} : { found: describeValue(input) }),
    },
    path,
    atKey,
  });
  switch (iss.code) {
    case 'unrecognized_keys':
      return iss.keys.map((k) => make(`unknown field "${k}"`, [...iss.path, k], true));
    case 'invalid_type':
      return [make(input === undefined ? 'is required' : `must be ${iss.expected}`)];
    case 'invalid_key':
      return [make(iss.issues[0]?.message ?? 'is not a valid name', iss.path, true)];
    case 'invalid_value':
      return [make(`must be one of: ${iss.values.map(String).join(', ')}`)];
    case 'too_big':
      return [make(`must be at most ${String(iss.maximum)}`)];
    case 'too_small':
      return [make(`must be at least ${String(iss.minimum)}`)];
    default:
      return [make(iss.message)];
  }
}

/** Checks across fields, after the schema: issues with their paths. */
function crossChecks(config: MeshConfig): RawIssue[] {
  const out: RawIssue[] = [];
  for (const [name, s] of Object.entries(config.services)) {
    for (const [u, p] of Object.entries(s.upstreams)) {
      if (p.retries.perTryTimeoutMs > p.timeoutMs) {
        const path = ['services', name, 'upstreams', u, 'retries', 'perTryTimeout'];
        out.push({
          issue: {
            path: formatPath(path),
            message: `is longer than the request timeout (${formatDuration(p.timeoutMs)}); make it at most that`,
          },
          path,
          atKey: false,
        });
      }
    }
  }
  return out;
}

function check(value: unknown): { config?: MeshConfig; raw: RawIssue[] } {
  const r = meshFileSchema.safeParse(value, { reportInput: true });
  if (!r.success) return { raw: r.error.issues.flatMap(convert) };
  const raw = crossChecks(r.data);
  return raw.length === 0 ? { config: r.data, raw } : { raw };
}

/** Validates a dependency file that arrived as a JSON value (API bodies): issues carry paths only. */
export function validateMeshFile(value: unknown): MeshValidationResult {
  const { config, raw } = check(value);
  return config ? { ok: true, config } : { ok: false, issues: raw.map((r) => r.issue) };
}

/** Parses and validates dependency-file text; `file` labels the issues. */
export function parseMeshFile(text: string, file: string): MeshValidationResult & { value?: unknown } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const pos = (offset: number): { line: number; column: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  const issues: ValidationIssue[] = doc.errors.map((e) => ({
    path: '',
    message:
      e.code === 'MULTIPLE_DOCS'
        ? 'the dependency file holds one YAML document, but a second one starts here'
        : `invalid YAML: ${firstLine(e.message)}`,
    file,
    ...pos(e.pos[0]),
  }));
  if (issues.length > 0) return { ok: false, issues: sortByPosition(issues) };
  findDuplicateKeys(doc.contents, [], (path, key, first) => {
    const f = pos(first.range?.[0] ?? 0);
    issues.push({
      path: formatPath(path),
      message: `duplicate key "${String(path.at(-1))}" (first defined at line ${f.line}, column ${f.column})`,
      file,
      ...pos(key.range?.[0] ?? 0),
    });
  });
  if (doc.contents === null) {
    issues.push({
      path: '',
      message: 'the dependency file is empty (it needs services:)',
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
    const message = `invalid YAML: ${e instanceof Error ? e.message : String(e)}`;
    return { ok: false, issues: [{ path: '', message, file, line: 1, column: 1 }] };
  }
  const { config, raw } = check(value);
  for (const r of raw) issues.push({ ...r.issue, file, ...locate(doc, r.path, r.atKey, pos) });
  if (config && issues.length === 0) return { ok: true, config, value };
  return { ok: false, issues: sortByPosition(issues) };
}

const ms = (v: number): string => (v === 0 ? '0' : formatDuration(v));

/** One service in user form: durations spelled out, every default shown. */
export function serviceUserForm(s: ServiceMesh): Record<string, unknown> {
  const upstreams: Record<string, unknown> = {};
  for (const [u, p] of Object.entries(s.upstreams)) {
    upstreams[u] = {
      loadBalancing: p.loadBalancing,
      connectTimeout: ms(p.connectTimeoutMs),
      timeout: ms(p.timeoutMs),
      retries: {
        on: p.retries.on,
        max: p.retries.max,
        perTryTimeout: ms(p.retries.perTryTimeoutMs),
        methods: p.retries.methods,
      },
      circuitBreaker: p.circuitBreaker,
      outlierDetection: {
        consecutive5xx: p.outlierDetection.consecutive5xx,
        ejectionTime: ms(p.outlierDetection.ejectionTimeMs),
      },
    };
  }
  return {
    upstreams,
    inbound: { maxConcurrency: s.inbound.maxConcurrency, queueTimeout: ms(s.inbound.queueTimeoutMs) },
    ...(s.expose === undefined ? {} : { expose: s.expose }),
  };
}

export function meshUserForm(config: MeshConfig): { services: Record<string, unknown> } {
  const services: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(config.services)) services[name] = serviceUserForm(s);
  return { services };
}

/** Leaves of a value as `a.b.c` -> value; lists are leaves (retry-on lists compare whole). */
function flatten(v: unknown, prefix: string, out: Map<string, unknown>): void {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0 && prefix !== '') out.set(prefix, {});
    for (const [k, x] of entries) flatten(x, prefix === '' ? k : `${prefix}.${k}`, out);
  } else out.set(prefix, v);
}

/**
 * What changes from `from` to `to` (undefined: nothing stored yet), per service and per setting:
 * a service or an upstream added or removed is one change; otherwise each setting that differs.
 */
export function diffMesh(from: MeshConfig | undefined, to: MeshConfig): MeshChange[] {
  const changes: MeshChange[] = [];
  const before = from?.services ?? {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(to.services)])].sort();
  for (const service of names) {
    const a = before[service];
    const b = to.services[service];
    if (a === undefined && b !== undefined) {
      changes.push({ service, setting: '', kind: 'added', to: serviceUserForm(b) });
      continue;
    }
    if (b === undefined) {
      changes.push({
        service,
        setting: '',
        kind: 'removed',
        from: a === undefined ? undefined : serviceUserForm(a),
      });
      continue;
    }
    if (a === undefined) continue;
    const ua = serviceUserForm(a);
    const ub = serviceUserForm(b);
    const upA = (ua['upstreams'] ?? {}) as Record<string, unknown>;
    const upB = (ub['upstreams'] ?? {}) as Record<string, unknown>;
    for (const u of [...new Set([...Object.keys(upA), ...Object.keys(upB)])].sort()) {
      const setting = `upstreams.${u}`;
      if (upA[u] === undefined) changes.push({ service, setting, kind: 'added', to: upB[u] });
      else if (upB[u] === undefined) changes.push({ service, setting, kind: 'removed', from: upA[u] });
    }
    const fa = new Map<string, unknown>();
    const fb = new Map<string, unknown>();
    flatten(ua, '', fa);
    flatten(ub, '', fb);
    for (const key of [...new Set([...fa.keys(), ...fb.keys()])].sort()) {
      const upstream = /^upstreams\.([^.]+)\./.exec(key)?.[1];
      if (upstream !== undefined && (upA[upstream] === undefined || upB[upstream] === undefined)) continue;
      const x = fa.get(key);
      const y = fb.get(key);
      // Leaves are JSON values (strings, numbers, lists of strings): their text compares them.
      if (JSON.stringify(x) === JSON.stringify(y)) continue;
      if (x === undefined) changes.push({ service, setting: key, kind: 'added', to: y });
      else if (y === undefined) changes.push({ service, setting: key, kind: 'removed', from: x });
      else changes.push({ service, setting: key, kind: 'changed', from: x, to: y });
    }
  }
  return changes;
}
