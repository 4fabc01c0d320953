/**
 * A container's output through the log writer (../process/log-writer.ts), so that what a full or
 * read-only disk refuses is counted and said by `dabba logs`, as for process tasks.
 *
 * conmon writes its CRI records not to ctr.log but to a named pipe beside it (ctr.pipe), which the
 * log writer of the runtime's state dir reads and appends to ctr.log, whole records only, counting
 * what it cannot write in the task's log-drops.json. conmon's own writes go to the pipe and never
 * fail for lack of space. conmon holds the pipe open for reading too (fd 4, opened by the fork
 * helper's shell for it), so the pipe never loses its last reader: if the writer is killed, conmon's
 * writes wait in the pipe (a chatty container blocks once it is full) until a writer is started
 * again (`ensure`, every few seconds while containers ship), which takes every pipe up again.
 *
 * Without a writer (it cannot be started), conmon writes ctr.log itself, as before: a failed write
 * is then dropped by conmon uncounted.
 */
import { constants } from 'node:fs';
import { open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { LogDrop } from '../../model/index.ts';
import { CRI_LOG, CRI_PIPE } from '../process/cri-records.ts';
import { writeLimit } from '../process/cri-sink.ts';
import { createDropsFile, DROPS_FILE, parseDrops } from '../process/log-drops.ts';
import { WriterClient } from '../process/writer-client.ts';
import { exists } from './cgroups.ts';
import type { ToolRunner } from './fork-helper.ts';
import type { OciPaths } from './paths.ts';
import { TASK_ID } from './support.ts';

const ENSURE_MS = 5000;

/** Where conmon is to write: the pipe (held open until the writer has it) or, without a writer, ctr.log. */
export interface LogTarget {
  path: string;
  /** The pipe's path: conmon runs holding it open for reading (fd 4; see ForkHelper's holdOpen). */
  pipe?: string;
  /**
   * Call once conmon has run (whether it created the container or not): the runtime's own hold on
   * the pipe is closed once the writer has the pipe open too.
   */
  release: () => void;
}

export class ContainerLogs {
  readonly #paths: OciPaths;
  readonly #log: Logger;
  readonly #writer: WriterClient;
  readonly #timer: NodeJS.Timeout;
  /** Whether containers were shipped by this runtime (started or recovered): keep a writer running. */
  #shipping = false;
  /**
   * Whether the last request to the writer succeeded: then a start does not wait for the writer
   * (which, after a second with nothing to ship, has exited and takes a Node start-up to come
   * back); otherwise it does, and conmon writes ctr.log itself if the writer cannot be reached.
   */
  #writerWorks = false;
  /** The writer's take-up of a task's pipe, while under way (drained() waits for it). */
  readonly #opening = new Map<string, Promise<void>>();
  /** Tasks whose start did not wait for the writer, until drained() says their log is complete. */
  readonly #late = new Set<string>();

  constructor(paths: OciPaths, log: Logger) {
    this.#paths = paths;
    this.#log = log;
    this.#writer = new WriterClient(paths.stateDir, { keep: true });
    this.#timer = setInterval(() => {
      if (this.#shipping) void this.#writer.ensure().catch((e: unknown) => this.#warn(e));
    }, ENSURE_MS);
    this.#timer.unref();
  }

  /**
   * Prepares the task's log (ctr.log, its drops record, the pipe shipped by the writer). `run`
   * runs mkfifo (the fork helper: no fork of the agent). Once the writer has answered before, the
   * start goes on while it takes the pipe up: conmon's output waits in the pipe, which the runtime
   * holds open (with a writer, so the pipe and what is in it outlive a container that exits at
   * once) until the writer has it.
   */
  async prepare(taskId: string, maxBytes: number | undefined, run: ToolRunner): Promise<LogTarget> {
    const dir = this.#paths.taskDir(taskId);
    const logPath = join(dir, CRI_LOG);
    const pipe = join(dir, CRI_PIPE);
    let hold: FileHandle | undefined;
    try {
      const [, , , made] = await Promise.all([
        // The log exists from the start: readers find it before the first line.
        writeFile(logPath, '', { flag: 'a', mode: 0o600 }),
        createDropsFile(dir),
        writeLimit(dir, maxBytes),
        run('mkfifo', ['-m', '600', pipe]),
      ]);
      if (made.code !== 0) throw new Error(`mkfifo: ${made.stderr.trim()}`);
      // A writer on the pipe before the log writer opens it (a pipe without one reads as ended).
      hold = await open(pipe, constants.O_RDWR);
      const opening = this.#writer.openCri(taskId, maxBytes);
      this.#shipping = true;
      if (!this.#writerWorks) {
        await opening;
        this.#writerWorks = true;
        return { path: pipe, pipe, release: closing(hold) };
      }
      const taken = opening.then(
        () => undefined,
        (e: unknown) => this.#openFailed(taskId, pipe, e),
      );
      this.#opening.set(taskId, taken);
      this.#late.add(taskId);
      const held = hold;
      return {
        path: pipe,
        pipe,
        release: () =>
          void taken.finally(() => {
            if (this.#opening.get(taskId) === taken) this.#opening.delete(taskId);
            closing(held)();
          }),
      };
    } catch (e) {
      this.#writerWorks = false;
      await hold?.close().catch(() => undefined);
      await rm(pipe, { force: true }).catch(() => undefined);
      this.#log.warn(
        { taskId, err: messageOf(e) },
        'no log writer: conmon writes the log itself (what a full disk refuses is not counted)',
      );
      return { path: logPath, release: () => undefined };
    }
  }

  /**
   * The writer did not take a started task's pipe up. Unless the task is gone meanwhile (stopped
   * at once, or a failed start), the next start waits for the writer again, and a writer started
   * within ENSURE_MS takes every pipe up (meanwhile the output waits in the pipe, held by conmon).
   */
  async #openFailed(taskId: string, pipe: string, e: unknown): Promise<void> {
    if (!(await exists(pipe))) return;
    this.#writerWorks = false;
    this.#log.warn({ taskId, err: messageOf(e) }, 'the log writer did not take the log up');
  }

  /** Containers run on after an agent restart: their pipes need a writer (it takes them up). */
  recovered(): void {
    this.#shipping = true;
    void this.#writer.ensure().catch((e: unknown) => this.#warn(e));
  }

  /** The windows in which the task's output could not be written (the previous run's: kept by teardown). */
  async drops(taskId: string, options: { previous?: boolean } = {}): Promise<LogDrop[]> {
    if (!TASK_ID.test(taskId)) return [];
    const file =
      options.previous === true
        ? previousDropsFile(this.#paths, taskId)
        : join(this.#paths.taskDir(taskId), DROPS_FILE);
    return parseDrops(await readFile(file, 'utf8').catch(() => '')).windows;
  }

  /** Resolves once the task's output has all been written to ctr.log. */
  async drained(taskId: string): Promise<void> {
    await this.#opening.get(taskId);
    await this.#writer.watch(taskId);
    this.#late.delete(taskId);
  }

  /**
   * For a task that has ended: resolves once its output is all in ctr.log if its start did not wait
   * for the writer (it may have ended before the writer even took its pipe up); at once otherwise
   * (the writer had the pipe before the container ran, or conmon wrote ctr.log itself).
   */
  async written(taskId: string): Promise<void> {
    if (this.#late.has(taskId)) await this.drained(taskId);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#writer.close();
  }

  #warn(e: unknown): void {
    this.#log.warn({ err: messageOf(e) }, 'no log writer for the containers');
  }
}

export function previousDropsFile(paths: OciPaths, taskId: string): string {
  return join(paths.previousDir, `${taskId}.${DROPS_FILE}`);
}

/** Closes the runtime's hold on a pipe (once). */
function closing(hold: FileHandle): () => void {
  return () => void hold.close().catch(() => undefined);
}
