/**
 * The stored form of a task (the record under /tasks/JOB/ID and its assignment under /assign/HOST/ID).
 *
 * A task runs its job version's task spec, and that spec is stored once, in the version's record
 * (/jobversions/JOB/N). Task records refer to it instead of holding a copy: `specAt` is the
 * version record's `createdAt`, which tells the version a task was made from apart from a later
 * one with the same number (a job purged and deployed again starts at version 1). Readers resolve
 * the reference (`resolveTaskRecords`) and hand out the `Task` with its `spec`, so every API answer
 * and watch event keeps the shape it always had. Records written before this form (with `spec`) are
 * read as they are.
 */
import type { JobVersionRecord, TaskSpec } from './job.ts';
import { keys } from './keys.ts';
import type { Task } from './task.ts';

/** A task as stored: either with its spec (the older form) or with a reference to its version's. */
export type TaskRecord = Omit<Task, 'spec'> & { spec?: TaskSpec; specAt?: number };

/**
 * The JSON stored for `task`: without its spec when `version` is given, with it otherwise. `version`
 * must be the record of the task's job version (`task.version`) and hold the same task spec (the
 * caller checks: the scheduler's plan writer compares them once per plan).
 */
export function encodeTaskRecord(task: Task, version: JobVersionRecord | undefined): string {
  if (version === undefined) return JSON.stringify(task);
  const { spec: _spec, ...rest } = task;
  return JSON.stringify({ ...rest, specAt: version.createdAt } satisfies TaskRecord);
}

/** The task a record stands for, given its version's record (undefined: not resolvable). */
export function taskFromRecord(record: TaskRecord, version: JobVersionRecord | undefined): Task | undefined {
  if (record.specAt === undefined) return record.spec === undefined ? undefined : (record as Task);
  if (version === undefined || version.createdAt !== record.specAt) return undefined;
  const { specAt: _at, spec: _spec, ...rest } = record;
  return { ...rest, spec: version.spec.task };
}

/** Whether a record needs its version's record to be read (it refers to the spec). */
export const refersToSpec = (record: TaskRecord): boolean => record.specAt !== undefined;

/** Reads job version records: the job's id and the version number. */
export type VersionReader = (
  wanted: readonly { job: string; version: number }[],
) => Promise<Map<string, JobVersionRecord>>;

/** The key of a job version in a VersionReader's answer. */
export const versionKey = (job: string, version: number): string => `${job}\u0000${version}`;

/**
 * The tasks these records stand for, in order. A record whose version record is gone (the job was
 * purged after it was read, and with it its tasks) or is a later one with the same number is left
 * out: the task it stood for no longer exists.
 */
export async function resolveTaskRecords(
  records: readonly TaskRecord[],
  read: VersionReader,
): Promise<Task[]> {
  const wanted = new Map<string, { job: string; version: number }>();
  for (const r of records) {
    if (refersToSpec(r)) wanted.set(versionKey(r.job, r.version), { job: r.job, version: r.version });
  }
  const versions = wanted.size === 0 ? new Map<string, JobVersionRecord>() : await read([...wanted.values()]);
  const out: Task[] = [];
  for (const r of records) {
    const t = taskFromRecord(r, versions.get(versionKey(r.job, r.version)));
    if (t !== undefined) out.push(t);
  }
  return out;
}

/** What `versionReaderOf` reads job versions from (a Store has both). */
export interface VersionSource {
  get(key: string): Promise<{ key: string; value: string } | undefined>;
  range(prefix: string): Promise<{ kvs: readonly { key: string; value: string }[] }>;
}

/** Versions of at most this many jobs are read one key at a time; more, with one range read. */
const FEW_VERSIONS = 8;

/** A VersionReader over the store's records: a get per version, or one range for many. */
export function versionReaderOf(source: VersionSource): VersionReader {
  return async (wanted) => {
    const out = new Map<string, JobVersionRecord>();
    /** Keyed by the job id in the record's key (/jobversions/JOB/N). */
    const add = (key: string, value: string): void => {
      const v = JSON.parse(value) as JobVersionRecord;
      const job = key.slice(keys.allJobVersionsPrefix.length, key.lastIndexOf('/'));
      out.set(versionKey(job, v.version), v);
    };
    if (wanted.length <= FEW_VERSIONS) {
      const kvs = await Promise.all(wanted.map((w) => source.get(keys.jobVersion(w.job, w.version))));
      for (const kv of kvs) if (kv !== undefined) add(kv.key, kv.value);
      return out;
    }
    const jobs = new Set(wanted.map((w) => w.job));
    const ranges =
      jobs.size <= FEW_VERSIONS
        ? await Promise.all([...jobs].map((j) => source.range(keys.jobVersionsPrefix(j))))
        : [await source.range(keys.allJobVersionsPrefix)];
    for (const r of ranges) for (const kv of r.kvs) add(kv.key, kv.value);
    return out;
  };
}

/** Parses stored task records and resolves their specs from `source`. */
export function readTaskValues(values: readonly string[], source: VersionSource): Promise<Task[]> {
  return resolveTaskRecords(
    values.map((v) => JSON.parse(v) as TaskRecord),
    versionReaderOf(source),
  );
}
