/** The field names the job schema knows at a path, for "did you mean" suggestions. */
import { closest, jobFileSchema } from '../job-schema.ts';
import type { Path } from './zod-issues.ts';

export interface DefLike {
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
export const ALIASES: Record<string, string> = {
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
