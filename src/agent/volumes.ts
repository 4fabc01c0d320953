/**
 * A host's volumes (docs/volumes.md): DATA_DIR/volumes/<job id>/<slot>/<name>, one directory per
 * volume of a task slot, kept across the task's restarts and updates and across agent restarts.
 * Where the data dir is on btrfs (and `btrfs` is installed) each volume is a subvolume, limited to
 * its `size` with a qgroup when quotas are on in that filesystem (`btrfs quota enable`); elsewhere
 * it is a plain directory and `size` is not enforced. The kind is logged at start and registered
 * with the host (`dabba hosts --json`: `volumes`).
 *
 * Removal: the agent lists the volume records the scheduler keeps for this host. A slot no record
 * names for this host and no task here uses is deleted when its job has no volume records left (it
 * was purged), and set aside in DATA_DIR/volumes/.abandoned/ when its volumes were placed afresh on
 * another host while this one was down (kept until the job is purged: data is not deleted behind
 * anyone's back).
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import type { Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import type { Task, VolumeRecord } from '../model/index.ts';
import { volumeEnvName } from '../model/index.ts';

/** Where slots placed afresh elsewhere are set aside (not a job id: those have no dot). */
const ABANDONED = '.abandoned';
/** In a slot's directory: the id of the task that was placed with fresh volumes and made it. */
const FRESH_FOR = '.fresh-for';
/** statfs f_type of btrfs. */
const BTRFS_MAGIC = 0x9123683e;
/** The inode number of a btrfs subvolume's root directory. */
const SUBVOLUME_INODE = 256;

/** How volumes are made on this host. */
export interface VolumeSupport {
  kind: 'directory' | 'btrfs-subvolume';
  /** Whether `size` is enforced (btrfs with quotas on). */
  quota: boolean;
  /** One line for logs and `dabba hosts`. */
  summary: string;
}

/** A task's volumes, ready to use: where they are on the host and where the task sees them. */
export interface PreparedVolumes {
  binds: { source: string; destination: string; readWrite: true }[];
  env: Record<string, string>;
}

interface Result {
  code: number;
  stderr: string;
}

function run(file: string, args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (err && typeof err.code !== 'number') resolve({ code: 127, stderr: stderr || err.message });
      else resolve({ code: err ? Number(err.code) : 0, stderr });
    });
  });
}

/** The slot directory's name part for a task: its slot, or its own id for a task without one. */
function slotKey(task: Task): string {
  return task.slot === undefined ? `task-${task.id}` : String(task.slot);
}

export class HostVolumes {
  readonly root: string;
  readonly #logger: Logger;
  #support: VolumeSupport | undefined;

  constructor(dataDir: string, logger: Logger) {
    this.root = join(dataDir, 'volumes');
    this.#logger = logger;
  }

  /** Finds out how volumes are made here (once; the data dir's filesystem does not change). */
  async support(): Promise<VolumeSupport> {
    if (this.#support !== undefined) return this.#support;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const fs = await statfs(this.root);
    let support: VolumeSupport = {
      kind: 'directory',
      quota: false,
      summary: 'directories (size not enforced: the data dir is not on btrfs)',
    };
    if (fs.type === BTRFS_MAGIC) {
      const tool = await run('btrfs', ['--version']);
      if (tool.code !== 0) {
        support.summary =
          'directories (size not enforced: the data dir is on btrfs but btrfs-progs is missing)';
      } else {
        const quota = (await run('btrfs', ['qgroup', 'show', this.root])).code === 0;
        support = {
          kind: 'btrfs-subvolume',
          quota,
          summary: quota
            ? 'btrfs subvolumes with a qgroup limit of their size'
            : 'btrfs subvolumes (size not enforced: quotas are off; `btrfs quota enable` turns them on)',
        };
      }
    }
    this.#support = support;
    return support;
  }

  /** The directory of one volume of a task. */
  path(task: Task, name: string): string {
    return join(this.root, task.job, slotKey(task), name);
  }

  /**
   * Makes the task's volumes exist (creating what is missing; an existing one is kept as it is)
   * and says how the task reaches them: a read-write bind at `mount` in a container, the host path
   * in DABBA_VOLUME_<NAME> (for a container: the mount path).
   */
  async prepare(task: Task, inContainer: boolean): Promise<PreparedVolumes | undefined> {
    const volumes = task.spec.volumes;
    if (volumes === undefined || volumes.length === 0) return undefined;
    const support = await this.support();
    const slotDir = join(this.root, task.job, slotKey(task));
    const fresh = task.freshVolumes !== undefined && !(await this.#madeBy(slotDir, task.id));
    if (fresh) await this.#setAsideStale(slotDir, task);
    const out: PreparedVolumes = { binds: [], env: {} };
    for (const v of volumes) {
      const dir = this.path(task, v.name);
      if (!(await exists(dir))) await this.#create(dir, v.sizeBytes, support);
      out.binds.push({ source: dir, destination: v.mount, readWrite: true });
      out.env[volumeEnvName(v.name)] = inContainer ? v.mount : dir;
    }
    if (fresh) await writeFile(join(slotDir, FRESH_FOR), task.id);
    return out;
  }

  async #madeBy(slotDir: string, taskId: string): Promise<boolean> {
    return (await readFile(join(slotDir, FRESH_FOR), 'utf8').catch(() => undefined)) === taskId;
  }

  /**
   * A task placed with fresh volumes (its slot's volumes were on another host) starts empty. This
   * host may still have the slot's directory from before the slot left it (collection sets such
   * directories aside only at its next pass): that is stale data, set aside now as collection
   * would. A restart in place of the task that made the fresh directory keeps it (`#madeBy`).
   */
  async #setAsideStale(slotDir: string, task: Task): Promise<void> {
    if (!(await exists(slotDir))) return;
    const to = join(this.root, ABANDONED, task.job, `${slotKey(task)}.${Date.now()}`);
    await mkdir(join(to, '..'), { recursive: true, mode: 0o700 });
    await rename(slotDir, to);
    this.#logger.warn(
      { dir: slotDir, to, task: task.id },
      'volumes set aside: the slot left this host and comes back with fresh volumes; the old data is kept aside until the job is purged',
    );
  }

  async #create(dir: string, sizeBytes: number, support: VolumeSupport): Promise<void> {
    await mkdir(join(dir, '..'), { recursive: true, mode: 0o755 });
    if (support.kind === 'btrfs-subvolume') {
      const made = await run('btrfs', ['subvolume', 'create', dir]);
      if (made.code !== 0) throw new Error(`btrfs subvolume create ${dir}: ${made.stderr.trim()}`);
      if (support.quota) {
        const limited = await run('btrfs', ['qgroup', 'limit', String(sizeBytes), dir]);
        if (limited.code !== 0)
          this.#logger.warn({ dir, err: limited.stderr.trim() }, 'volume made without its size limit');
      }
    } else {
      await mkdir(dir, { mode: 0o755 });
    }
    this.#logger.info({ dir, kind: support.kind, sizeBytes }, 'volume created');
  }

  /**
   * Deletes the slots of jobs that have no volume records anywhere (`liveJobs` lacks them: purged),
   * and sets aside the slots recorded for this host no more (`keep`: job id -> slots) of the other
   * jobs; a slot a task here uses (`inUse()`, read just before each change) stays. Returns what it
   * removed or set aside.
   */
  async collect(
    keep: ReadonlyMap<string, ReadonlySet<string>>,
    liveJobs: ReadonlySet<string>,
    inUse: () => Set<string>,
  ): Promise<{ removed: string[]; abandoned: string[] }> {
    const out = { removed: [] as string[], abandoned: [] as string[] };
    for (const job of await list(this.root)) {
      if (job === ABANDONED) continue;
      const jobDir = join(this.root, job);
      for (const slot of await list(jobDir)) {
        if (keep.get(job)?.has(slot) === true || inUse().has(`${job}/${slot}`)) continue;
        const dir = join(jobDir, slot);
        if (liveJobs.has(job)) {
          const to = join(this.root, ABANDONED, job, `${slot}.${Date.now()}`);
          await mkdir(join(to, '..'), { recursive: true, mode: 0o700 });
          await rename(dir, to);
          this.#logger.warn(
            { dir, to },
            'volumes set aside: the scheduler gave this slot fresh volumes on another host while this one was down; they are deleted when the job is purged',
          );
          out.abandoned.push(to);
        } else {
          await this.#removeSlot(dir);
          out.removed.push(dir);
        }
      }
      if ((await list(jobDir)).length === 0) await rm(jobDir, { recursive: true, force: true });
    }
    const aside = join(this.root, ABANDONED);
    for (const job of await list(aside)) {
      if (liveJobs.has(job)) continue;
      for (const slot of await list(join(aside, job))) await this.#removeSlot(join(aside, job, slot));
      await rm(join(aside, job), { recursive: true, force: true });
      out.removed.push(join(aside, job));
    }
    return out;
  }

  async #removeSlot(slotDir: string): Promise<void> {
    for (const name of await list(slotDir)) {
      const dir = join(slotDir, name);
      const st = await stat(dir).catch(() => undefined);
      if (st?.isDirectory() === true && st.ino === SUBVOLUME_INODE) {
        const r = await run('btrfs', ['subvolume', 'delete', dir]);
        if (r.code !== 0) this.#logger.warn({ dir, err: r.stderr.trim() }, 'btrfs subvolume delete failed');
      }
      await rm(dir, { recursive: true, force: true });
    }
    await rm(slotDir, { recursive: true, force: true });
    this.#logger.info({ dir: slotDir }, 'volumes removed (no longer recorded for this host)');
  }
}

/** `job/slot` keys of the volumes the given tasks use. */
export function volumesInUse(tasks: Iterable<Task>): Set<string> {
  const out = new Set<string>();
  for (const t of tasks) if (t.spec.volumes?.length) out.add(`${t.job}/${slotKey(t)}`);
  return out;
}

/** job id -> slot directory names, from the scheduler's records for this host. */
export function recordedSlots(records: readonly VolumeRecord[]): Map<string, Set<string>> {
  const keep = new Map<string, Set<string>>();
  for (const r of records) {
    let s = keep.get(r.job);
    if (s === undefined) keep.set(r.job, (s = new Set()));
    s.add(String(r.slot));
  }
  return keep;
}

export interface VolumeGcOptions {
  volumes: HostVolumes;
  client: DabbaClient;
  hostId: string;
  /** The tasks this agent runs now. */
  tasks: () => Iterable<Task>;
  logger: Logger;
  intervalMs?: number;
}

/** Every `intervalMs` (default 30 s): deletes the volumes no record names for this host. */
export async function runVolumeGc(o: VolumeGcOptions, signal: AbortSignal): Promise<void> {
  const every = o.intervalMs ?? 30_000;
  while (!signal.aborted) {
    try {
      const { volumes, jobs } = await o.client.hostVolumes(o.hostId);
      if (signal.aborted) return;
      await o.volumes.collect(recordedSlots(volumes), new Set(jobs), () => volumesInUse(o.tasks()));
    } catch (e) {
      if (signal.aborted) return;
      o.logger.warn({ err: messageOf(e) }, 'volume collection failed; trying again later');
    }
    await sleep(every, signal);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function list(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}
