/**
 * The host side of config delivery (docs/config.md): the agent subscribes on behalf of its tasks.
 * Each config a task mounts is fetched before the task starts and written into the task's config
 * directory, DATA_DIR/configs/TASK/<mount without its leading />, atomically (a temp file in the same
 * directory renamed over the old one: a reader sees the old file or the new one, never a mix), with
 * `<file>.version` beside it. Then each subscribed config is followed: a new version is fetched once
 * per host, verified by digest, written for every task that mounts it, and each task is told as its
 * `onChange` says. The host reports the version it has to the server (`dabba config status`).
 *
 * Distribution today is a star: every host asks the server (LAD trees are not built, see config.md).
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DabbaClient } from '../../client/index.ts';
import { DabbaError, messageOf } from '../../errors/index.ts';
import { sleep, type Logger } from '../../lib/index.ts';
import { splitJobId, type ConfigOnChange, type TaskConfigMount } from '../../model/index.ts';

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
  content: Buffer;
  /** Mounts by `${taskId}\0${file}`. */
  mounts: Map<string, Mount>;
}

export interface HostConfigsOptions {
  client: DabbaClient;
  hostId: string;
  /** The agent's data dir: task config dirs go under DIR/configs/. */
  dataDir: string;
  logger: Logger;
  /** How often each subscribed config is checked for a new version (ms, default 250). */
  pollMs?: number;
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Writes `bytes` to `file` atomically: a temp file in the same directory, then a rename over it. */
export async function writeAtomic(file: string, bytes: Buffer | string): Promise<void> {
  const tmp = join(dirname(file), `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, bytes, { mode: 0o644, flush: true });
    await rename(tmp, file);
  } catch (e) {
    await rm(tmp, { force: true });
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
  readonly #o: HostConfigsOptions;
  readonly #subs = new Map<string, Subscription>();
  readonly #notifiers = new Map<string, TaskNotifier>();

  constructor(o: HostConfigsOptions) {
    this.#o = o;
  }

  /** The directory a task's configs are written under ($DABBA_CONFIG_DIR of a process task). */
  taskDir(taskId: string): string {
    return join(this.#o.dataDir, 'configs', taskId);
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
      if (sub.mounts.size === 0) this.#subs.delete(key);
    }
    await rm(this.taskDir(taskId), { recursive: true, force: true });
  }

  /** Follows every subscribed config until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.#o.pollMs ?? 250;
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) return;
      await Promise.all(
        [...this.#subs.values()].map((sub) =>
          this.#refresh(sub).catch((e: unknown) => {
            this.#o.logger.warn(
              { err: messageOf(e), config: sub.path, namespace: sub.namespace },
              'config check failed',
            );
          }),
        ),
      );
    }
  }

  async #subscribe(namespace: string, path: string): Promise<Subscription> {
    const key = `${namespace}\0${path}`;
    const known = this.#subs.get(key);
    if (known) return known;
    const api = this.#o.client.with({ namespace }).configs();
    const c = await api.content(path);
    if (sha256(c.bytes) !== c.digest) {
      throw new DabbaError(
        'DABBA_E_INTERNAL',
        `config ${path} version ${c.version} does not match its digest`,
      );
    }
    const again = this.#subs.get(key);
    if (again) return again;
    const sub: Subscription = {
      namespace,
      path,
      version: c.version,
      digest: c.digest,
      content: c.bytes,
      mounts: new Map(),
    };
    this.#subs.set(key, sub);
    this.#report(sub);
    return sub;
  }

  async #refresh(sub: Subscription): Promise<void> {
    const api = this.#o.client.with({ namespace: sub.namespace }).configs();
    const latest = await api.get(sub.path);
    if (latest.version <= sub.version) return;
    const c = await api.content(sub.path, latest.version);
    if (sha256(c.bytes) !== latest.digest) {
      throw new DabbaError(
        'DABBA_E_INTERNAL',
        `config ${sub.path} version ${latest.version} does not match its digest`,
      );
    }
    if (latest.version <= sub.version) return;
    sub.version = latest.version;
    sub.digest = latest.digest;
    sub.content = c.bytes;
    for (const m of [...sub.mounts.values()]) {
      await this.#writeMount(m.file, sub);
      this.#notify(m);
    }
    this.#o.logger.info(
      { config: sub.path, namespace: sub.namespace, version: sub.version },
      'config updated',
    );
    this.#report(sub);
  }

  async #writeMount(file: string, sub: Subscription): Promise<void> {
    await writeAtomic(file, sub.content);
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
    void this.#o.client
      .configs()
      .reportHost(this.#o.hostId, sub.namespace, sub.path, sub.version, sub.digest)
      .catch((e: unknown) =>
        this.#o.logger.debug({ err: messageOf(e), config: sub.path }, 'config report failed'),
      );
  }
}
