/**
 * The host side of config delivery (docs/config.md): the agent subscribes on behalf of its tasks.
 * Each config a task mounts is fetched before the task starts and written into the task's config
 * directory, DATA_DIR/configs/TASK/<mount without its leading />, atomically (a temp file in the same
 * directory renamed over the old one: a reader sees the old file or the new one, never a mix), with
 * `<file>.version` beside it. Then each subscribed config is followed: its metadata comes down the
 * shard's distribution tree (distribution.ts), a new version's content is fetched once per host from
 * the tree parent, verified by digest, written for every task that mounts it, and each task is told
 * as its `onChange` says. The host reports the version it has to the server (`dabba config status`).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { copyFile, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DabbaClient } from '../../client/index.ts';
import { NotFoundError, UnavailableError, messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import {
  META_INLINE_MAX_BYTES,
  configShardOf,
  splitJobId,
  type ConfigMeta,
  type ConfigOnChange,
  type TaskConfigMount,
} from '../../model/index.ts';
import { Distribution } from './distribution.ts';
import { HostReports } from './host-reports.ts';
import { LoopLag } from './loop-lag.ts';

/** What the agent lets this module do to a running task. */
export interface TaskNotifier {
  /** Sends a signal to the task's main process. */
  signal(signal: 'SIGHUP'): void;
  /** Restarts the task (stop, then start again with the configs already in place). */
  restart(): void;
}

interface Mount {
  taskId: string;
  file: string;
  onChange: ConfigOnChange;
}

interface Subscription {
  namespace: string;
  path: string;
  version: number;
  digest: string;
  /** The verified content, in the host's content cache. */
  file: string;
  /** Mounts by `${taskId}\0${file}`. */
  mounts: Map<string, Mount>;
  /** The update in progress (updates of one config are serialized). */
  updating: Promise<void>;
}

export interface HostConfigsOptions {
  client: DabbaClient;
  hostId: string;
  /** The agent's data dir: task config dirs go under DIR/configs/. */
  dataDir: string;
  logger: Logger;
  /**
   * Where task config directories go (default DATA_DIR/configs). The files are copies the agent
   * writes again at each start, so a tmpfs serves: a change to many subscriptions then costs no
   * disk metadata operations (on a busy disk those were most of a change's time).
   */
  configDir?: string;
  /** How long a start waits for the config's shard metadata from the tree (ms, default 30,000). */
  metaTimeoutMs?: number;
  /** A content fetch with no byte for this long moves to the next upstream (ms, default 10,000). */
  idleMs?: number;
}

/**
 * Writes `bytes` to `file` atomically: a temp file in the same directory, then a rename over it. A
 * reader sees the old file or the new one, never a mix. Not fsynced: a task's config files are a copy
 * the agent writes again from its content cache at each start (an fsync per file per task made a
 * change to many subscriptions wait on the disk: docs/config.md, "Delivery").
 */
export async function writeAtomic(file: string, bytes: Buffer | string | { copyOf: string }): Promise<void> {
  const tmp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    if (typeof bytes === 'object' && 'copyOf' in bytes) await copyFile(bytes.copyOf, tmp);
    else await writeFile(tmp, bytes, { mode: 0o644 });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** How long a synchronous pass of small writes runs before it lets the event loop turn (ms). */
const SLICE_MS = 2;

/** writeAtomic for a small content, synchronously. */
function writeAtomicSync(file: string, bytes: Buffer | string): void {
  const tmp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, bytes, { mode: 0o644 });
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Where a task's configs are: its environment, and for a container the directories to bind. */
export interface PreparedConfigs {
  env: Record<string, string>;
  binds: { source: string; destination: string }[];
}

/**
 * The directories of a task's config mounts, each bound from the task's config directory (so that a
 * rename there is seen inside); a directory inside another bound one is not bound again.
 */
export function bindsFor(
  dir: string,
  mounts: readonly TaskConfigMount[],
): { source: string; destination: string }[] {
  const dirs = [...new Set(mounts.map((m) => dirname(m.mount)))].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const d of dirs) {
    if (!kept.some((k) => k === '/' || d === k || d.startsWith(`${k}/`))) kept.push(d);
  }
  return kept.map((d) => ({ source: join(dir, d.slice(1)), destination: d }));
}

export class HostConfigs {
  readonly dist: Distribution;
  readonly #o: HostConfigsOptions;
  readonly #subs = new Map<string, Subscription>();
  readonly #notifiers = new Map<string, TaskNotifier>();
  readonly #reports: HostReports;
  readonly #lag = new LoopLag();
  /** The small contents' write passes, one after another (#writeSmall). */
  #writing: Promise<void> = Promise.resolve();

  constructor(o: HostConfigsOptions) {
    this.#o = o;
    this.#reports = new HostReports(o.client, o.hostId, o.logger);
    this.dist = new Distribution({
      client: o.client,
      hostId: o.hostId,
      dataDir: o.dataDir,
      logger: o.logger,
      ...(o.idleMs === undefined ? {} : { idleMs: o.idleMs }),
    });
    this.dist.onMeta((m) => this.#onMeta(m));
  }

  /** The directory a task's configs are written under ($DABBA_CONFIG_DIR of a process task). */
  taskDir(taskId: string): string {
    return join(this.#o.configDir ?? join(this.#o.dataDir, 'configs'), taskId);
  }

  /**
   * Fetches and writes every config the task mounts (resolves once all are on disk, so that the
   * task starts only with its configs present); the environment and binds the task gets.
   */
  async prepare(taskId: string, job: string, mounts: readonly TaskConfigMount[]): Promise<PreparedConfigs> {
    const { namespace } = splitJobId(job);
    const dir = this.taskDir(taskId);
    for (const m of mounts) {
      const sub = await this.#subscribe(namespace, m.path);
      const file = join(dir, m.mount.slice(1));
      await mkdir(dirname(file), { recursive: true });
      await this.#writeMount(file, sub);
      sub.mounts.set(`${taskId}\0${file}`, { taskId, file, onChange: m.onChange });
    }
    return { env: { DABBA_CONFIG_DIR: dir }, binds: bindsFor(dir, mounts) };
  }

  /** How to tell a running task about a change (set after each start). */
  attach(taskId: string, notifier: TaskNotifier): void {
    this.#notifiers.set(taskId, notifier);
  }

  /** The task is gone: no more updates for it, and its config directory is removed. */
  async release(taskId: string): Promise<void> {
    this.#notifiers.delete(taskId);
    for (const [key, sub] of this.#subs) {
      for (const [k, m] of sub.mounts) if (m.taskId === taskId) sub.mounts.delete(k);
      if (sub.mounts.size === 0) {
        this.#subs.delete(key);
        this.dist.release(sub.namespace, sub.path);
      }
    }
    await rm(this.taskDir(taskId), { recursive: true, force: true });
  }

  /** Runs until `signal` aborts, then leaves every distribution tree. */
  async run(signal: AbortSignal): Promise<void> {
    this.#lag.start();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.#reports.close();
    this.#lag.stop();
    await this.dist.close();
  }

  async #subscribe(namespace: string, path: string): Promise<Subscription> {
    const key = `${namespace}\0${path}`;
    const known = this.#subs.get(key);
    if (known) return known;
    const member = this.dist.acquire(namespace, path);
    try {
      if (!(await member.whenReady(this.#o.metaTimeoutMs ?? 30_000)))
        throw new UnavailableError(`no metadata of config ${path} from the distribution tree yet`);
      const meta = member.meta(namespace, path);
      if (meta === undefined) throw new NotFoundError('config', path, { details: { namespace } });
      const file = await this.dist.cache.file(meta);
      const again = this.#subs.get(key);
      if (again) {
        this.dist.release(namespace, path);
        return again;
      }
      const sub: Subscription = {
        namespace,
        path,
        version: meta.version,
        digest: meta.digest,
        file,
        mounts: new Map(),
        updating: Promise.resolve(),
      };
      this.#subs.set(key, sub);
      this.#report(sub);
      // A version that came while this one was fetched.
      const newer = member.meta(namespace, path);
      if (newer !== undefined && newer.version > sub.version) this.#onMeta(newer);
      return sub;
    } catch (e) {
      this.dist.release(namespace, path);
      throw e;
    }
  }

  #onMeta(m: ConfigMeta): void {
    const sub = this.#subs.get(`${m.namespace}\0${m.path}`);
    if (sub === undefined || m.version <= sub.version) return;
    const metaAt = Date.now();
    sub.updating = sub.updating
      .then(() => this.#update(sub, m, metaAt))
      .catch((e: unknown) => {
        this.#o.logger.warn(
          { err: messageOf(e), config: m.path, version: m.version },
          'config update failed',
        );
      });
  }

  async #update(sub: Subscription, m: ConfigMeta, metaAt: number): Promise<void> {
    if (m.version <= sub.version) return;
    const startAt = Date.now();
    const file = await this.dist.cache.file(m);
    const fetchedAt = Date.now();
    if (m.version <= sub.version) return;
    const old = sub.digest;
    sub.version = m.version;
    sub.digest = m.digest;
    sub.file = file;
    const mounts = [...sub.mounts.entries()];
    let passAt = Date.now();
    if (m.size <= META_INLINE_MAX_BYTES) {
      // A small content: every task's files in synchronous slices (a few syscalls each, no
      // round trip through the thread pool per file: a change to many subscriptions on a busy host
      // waited there), each file still replaced atomically.
      const bytes = readFileSync(file);
      const pass = this.#writing.then(() => this.#writeSmall(sub, mounts, bytes));
      this.#writing = pass.then(
        () => undefined,
        () => undefined,
      );
      passAt = await pass;
    } else {
      // Every task's files at once (each file is still replaced atomically).
      await Promise.all(
        mounts.map(async ([, mount]) => {
          await this.#writeMount(mount.file, sub);
          this.#notify(mount);
        }),
      );
    }
    // Epoch ms of each step, for the benchmarks' per-stage breakdown (bench/config-stages.ts).
    this.#o.logger.info(
      {
        config: sub.path,
        namespace: sub.namespace,
        version: sub.version,
        mounts: sub.mounts.size,
        depth: this.dist.member(configShardOf(sub.namespace, sub.path))?.position?.depth ?? -1,
        metaAt,
        startAt,
        fetchedAt,
        passAt,
        writtenAt: Date.now(),
        // Per hop: when each upstream sent it on (the distributor first); this loop's recent lag.
        trace: m.trace,
        loopMaxMs: this.#lag.maxMs(),
      },
      'config updated',
    );
    this.#report(sub);
    if (old !== m.digest && ![...this.#subs.values()].some((s) => s.digest === old))
      await this.dist.cache.drop(old);
  }

  /**
   * A small content's files for every task that mounts it, synchronously (a few syscalls each, no
   * round trip through the thread pool per file), in slices of SLICE_MS between which the event
   * loop turns: the next version's metadata, which this host passes on to its children at once,
   * does not wait behind the whole pass (on a loaded disk a pass over a hundred mounts took hundreds
   * of ms, and every hop below paid it). Passes run one after another in the order they came
   * (#writing), so that each config's files are done as early as before. Resolves to the epoch ms
   * the pass started (after those before it).
   */
  async #writeSmall(sub: Subscription, mounts: [string, Mount][], bytes: Buffer): Promise<number> {
    const startAt = Date.now();
    let slice = performance.now();
    for (const [key, mount] of mounts) {
      if (performance.now() - slice > SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        slice = performance.now();
        if (!sub.mounts.has(key)) continue;
      }
      try {
        writeAtomicSync(mount.file, bytes);
        writeAtomicSync(`${mount.file}.version`, `${sub.version}\n`);
      } catch (e) {
        this.#o.logger.warn({ err: messageOf(e), config: sub.path, file: mount.file }, 'config write failed');
        continue;
      }
      this.#notify(mount);
    }
    return startAt;
  }

  async #writeMount(file: string, sub: Subscription): Promise<void> {
    await writeAtomic(file, { copyOf: sub.file });
    await writeAtomic(`${file}.version`, `${sub.version}\n`);
  }

  #notify(m: Mount): void {
    const n = this.#notifiers.get(m.taskId);
    if (!n) return;
    try {
      if (m.onChange === 'signal:HUP') n.signal('SIGHUP');
      else if (m.onChange === 'restart') n.restart();
    } catch (e) {
      this.#o.logger.warn(
        { err: messageOf(e), task: m.taskId },
        'telling the task about a config change failed',
      );
    }
  }

  #report(sub: Subscription): void {
    this.#reports.add({ namespace: sub.namespace, path: sub.path, version: sub.version, digest: sub.digest });
  }
}
