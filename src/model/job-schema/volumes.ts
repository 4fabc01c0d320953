/**
 * `task.volumes`: directories a task keeps on its host across restarts and updates (docs/volumes.md).
 * (Part of the job file's schema: src/model/job-schema.ts puts it together.)
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../../lib/ids.ts';
import type { VolumeSpec } from '../job.ts';
import { JOB_LIMITS, SIZE_PATTERN } from './limits.ts';
import type { Ctx } from './leaves.ts';
import {
  addIssue,
  bad,
  isRecord,
  leaf,
  parseBoundedSize,
  parseName,
  plainString,
  type Parsed,
} from './leaves.ts';

const VOLUME_NAME_RULE = '1-63 lowercase letters, digits or "-", starting and ending with a letter or digit';

export const volumeNameLeaf = leaf<string>({
  expected: VOLUME_NAME_RULE,
  json: {
    type: 'string',
    pattern: NAME_PATTERN.source,
    minLength: 1,
    maxLength: 63,
    description: `Volume name, unique in the task (${VOLUME_NAME_RULE}). The task finds the volume's path in DABBA_VOLUME_<NAME> (upper case, "-" as "_").`,
    examples: ['data'],
  },
  parse: parseName,
});

/** Directories a volume may not be mounted on or under: the container's own. */
const RESERVED_MOUNTS = ['/proc', '/sys', '/dev'];

export const volumeMountLeaf = leaf<string>({
  expected: 'an absolute directory path such as /data',
  json: {
    type: 'string',
    pattern: '^/.',
    maxLength: JOB_LIMITS.path.max,
    description:
      'Where a container sees the volume (read-write). The process runtime gives the host path in DABBA_VOLUME_<NAME> instead.',
    examples: ['/data', '/var/lib/redis'],
  },
  parse: (v) => {
    const s = plainString(v, 'a string', JOB_LIMITS.path.max);
    if (!s.ok) return s;
    if (!s.value.startsWith('/')) return bad('must be an absolute path (starting with /)');
    if (s.value === '/') return bad('must not be / (mount the volume on a directory such as /data)');
    const segs = s.value.slice(1).split('/');
    if (segs.some((x) => x === '' || x === '.' || x === '..'))
      return bad('must be a normalized path (no empty, "." or ".." segments, no trailing /)');
    const reserved = RESERVED_MOUNTS.find((r) => s.value === r || s.value.startsWith(`${r}/`));
    if (reserved !== undefined) return bad(`must not be under ${reserved}, which the container runtime owns`);
    return s;
  },
});

function parseVolumeSize(v: unknown): Parsed<number> {
  return parseBoundedSize(v, { ...JOB_LIMITS.volumeBytes, example: '1Gi', maxText: '64Ti' });
}

export const volumeSizeLeaf = leaf<number>({
  expected: 'a size from 1Mi to 64Ti, such as 512Mi or 10Gi',
  json: {
    anyOf: [
      { type: 'string', pattern: SIZE_PATTERN },
      { type: 'integer', minimum: JOB_LIMITS.volumeBytes.min, maximum: JOB_LIMITS.volumeBytes.max },
    ],
    description:
      "The volume's size: its quota where the filesystem enforces one (a btrfs data dir with quotas on); elsewhere it is recorded, not enforced (docs/volumes.md).",
    examples: ['1Gi', '512Mi'],
  },
  parse: parseVolumeSize,
});

/** a is b, or a directory above b. */
function covers(a: string, b: string): boolean {
  return a === b || b.startsWith(`${a}/`);
}

export const taskVolumesSchema = z
  .array(
    z
      .strictObject({ name: volumeNameLeaf, mount: volumeMountLeaf, size: volumeSizeLeaf })
      .meta({ description: 'A volume the task keeps on its host across restarts and updates.' })
      .transform((v): VolumeSpec => ({ name: v.name, mount: v.mount, sizeBytes: v.size })),
  )
  .meta({
    maxItems: JOB_LIMITS.volumes.max,
    description:
      "Volumes the task keeps on its host (docs/volumes.md): each task of the job has a slot, and a slot's volumes stay on the host that holds them; the task that replaces it (a restart, an update) is placed back there.",
  })
  .superRefine(
    (list, ctx) => {
      if (list.length > JOB_LIMITS.volumes.max)
        addIssue(ctx, list.length, `has more than ${JOB_LIMITS.volumes.max} volumes`, {
          expected: `at most ${JOB_LIMITS.volumes.max}`,
        });
      const names = new Map<string, number>();
      const mounts: [string, number][] = [];
      list.forEach((v: unknown, i) => {
        if (!isRecord(v)) return;
        if (typeof v['name'] === 'string') {
          const first = names.get(v['name']);
          if (first === undefined) names.set(v['name'], i);
          else
            addIssue(
              ctx,
              v['name'],
              `duplicate volume name (already used by task.volumes[${first}])`,
              { expected: 'a unique volume name' },
              [i, 'name'],
            );
        }
        const mount = v['mount'];
        if (typeof mount !== 'string') return;
        const clash = mounts.find(([m]) => covers(m, mount) || covers(mount, m));
        if (clash === undefined) mounts.push([mount, i]);
        else
          addIssue(
            ctx,
            mount,
            clash[0] === mount
              ? `duplicate mount (already used by task.volumes[${clash[1]}])`
              : `overlaps the mount of task.volumes[${clash[1]}] (${clash[0]}); volumes cannot be nested`,
            { expected: 'a directory of its own' },
            [i, 'mount'],
          );
      });
    },
    { when: (p) => Array.isArray(p.value) },
  )
  .prefault([]);

/** A config mounted inside a volume (or over it) is refused: one would hide the other. */
export function checkConfigsOutsideVolumes(task: Record<string, unknown>, ctx: Ctx): void {
  const volumes = task['volumes'];
  const configs = task['configs'];
  if (!Array.isArray(volumes) || !Array.isArray(configs)) return;
  configs.forEach((c: unknown, i) => {
    if (!isRecord(c) || typeof c['mount'] !== 'string') return;
    const mount = c['mount'];
    const j = volumes.findIndex(
      (v: unknown) => isRecord(v) && typeof v['mount'] === 'string' && covers(v['mount'], mount),
    );
    if (j < 0) return;
    addIssue(
      ctx,
      mount,
      `is inside the mount of task.volumes[${j}]; a config cannot be mounted in a volume`,
      { expected: 'a path outside every volume' },
      ['configs', i, 'mount'],
    );
  });
}
