/**
 * Reading the dependency file: YAML text -> MeshConfig, every problem at once with line and column
 * (as job files); MeshConfig -> user form; and the difference between two files, per service and
 * per setting.
 */
import type { ValidationIssue } from '../errors/dabba-error.ts';
import { formatDuration } from '../lib/durations.ts';
import { formatPath } from './job-file.ts';
import { checkValue, parseYamlFile, type RawIssue } from './yaml-file.ts';
import type { MeshChange, MeshConfig, ServiceMesh } from './mesh.ts';
import { meshFileSchema } from './mesh-schema.ts';

export type MeshValidationResult =
  { ok: true; config: MeshConfig } | { ok: false; issues: ValidationIssue[] };

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
  const { value: config, raw } = checkValue(meshFileSchema, value, crossChecks);
  return config === undefined ? { raw } : { config, raw };
}

/** Validates a dependency file that arrived as a JSON value (API bodies): issues carry paths only. */
export function validateMeshFile(value: unknown): MeshValidationResult {
  const { config, raw } = check(value);
  return config ? { ok: true, config } : { ok: false, issues: raw.map((r) => r.issue) };
}

/** Parses and validates dependency-file text; `file` labels the issues. */
export function parseMeshFile(text: string, file: string): MeshValidationResult & { value?: unknown } {
  const r = parseYamlFile(text, file, {
    schema: meshFileSchema,
    what: 'the dependency file',
    needs: 'services:',
    cross: crossChecks,
  });
  return r.ok ? { ok: true, config: r.value, value: r.raw } : r;
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
