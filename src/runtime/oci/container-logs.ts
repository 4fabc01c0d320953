/**
 * A container's output through the log writer (../process/log-writer.ts), so that what a full or
 * read-only disk refuses is counted and said by `dabba logs`, as for process tasks.
 *
 * conmon writes its CRI records not to ctr.log but to a named pipe beside it (ctr.pipe), which the
 * log writer of the runtime's state dir reads and appends to ctr.log, whole records only, counting
 * what it cannot write in the task's log-drops.json. conmon's own writes go to the pipe and never
 * fail for lack of space. conmon holds the pipe open for reading too (fd 4, opened by a shell that
 * then becomes conmon), so the pipe never loses its last reader: if the writer is killed, conmon's
 * writes wait in the pipe (a chatty container blocks once it is full) until a writer is started
 * again (`ensure`, every few seconds while containers ship), which takes every pipe up again.
 *
 * Without a writer (it cannot be started), conmon writes ctr.log itself, as before: a failed write
 * is then dropped by conmon uncounted.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { LogDrop } from '../../model/index.ts';
import { CRI_LOG, CRI_PIPE } from '../process/cri-records.ts';
import { writeLimit } from '../process/cri-sink.ts';
import { createDropsFile, DROPS_FILE, parseDrops } from '../process/log-drops.ts';
import { WriterClient } from '../process/writer-client.ts';
import type { OciPaths } from './paths.ts';
import { TASK_ID } from './support.ts';

const ENSURE_MS = 5000;

/** Where conmon is to write: the pipe (held open until conmon has it) or, without a writer, ctr.log. */
export interface LogTarget {
  path: string;
  /** The pipe's path: conmon runs under a shell that holds it open for reading (fd 4). */
  pipe?: string;
  /** The runtime's own hold on the pipe: close once conmon is started. */
  hold?: FileHandle;
}

export class ContainerLogs {
  readonly #paths: OciPaths;
  readonly #log: Logger;
  readonly #writer: WriterClient;
  readonly #timer: NodeJS.Timeout;
  /** Whether containers were shipped by this runtime (started or recovered): keep a writer running. */
  #shipping = false;

  constructor(paths: OciPaths, log: Logger) {
    this.#paths = paths;
    this.#log = log;
    this.#writer = new WriterClient(paths.stateDir);
    this.#timer = setInterval(() => {
      if (this.#shipping) void this.#writer.ensure().catch((e: unknown) => this.#warn(e));
    }, ENSURE_MS);
    this.#timer.unref();
  }

  /** Prepares the task's log (ctr.log, its drops record, the pipe shipped by the writer). */
  async prepare(taskId: string, maxBytes: number | undefined): Promise<LogTarget> {
    const dir = this.#paths.taskDir(taskId);
    const logPath = join(dir, CRI_LOG);
    // The log exists from the start: readers find it before the first line.
    await writeFile(logPath, '', { flag: 'a', mode: 0o600 });
    const pipe = join(dir, CRI_PIPE);
    let hold: FileHandle | undefined;
    try {
      await createDropsFile(dir);
      await writeLimit(dir, maxBytes);
      await promisify(execFile)('mkfifo', ['-m', '600', pipe]);
      // A writer on the pipe before the log writer opens it (a pipe without one reads as ended).
      hold = await open(pipe, constants.O_RDWR);
      await this.#writer.openCri(taskId, maxBytes);
      this.#shipping = true;
      return { path: pipe, pipe, hold };
    } catch (e) {
      await hold?.close().catch(() => undefined);
      await rm(pipe, { force: true }).catch(() => undefined);
      this.#log.warn(
        { taskId, err: messageOf(e) },
        'no log writer: conmon writes the log itself (what a full disk refuses is not counted)',
      );
      return { path: logPath };
    }
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
  drained(taskId: string): Promise<void> {
    return this.#writer.watch(taskId);
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

/** conmon's command, run under a shell holding the pipe open for reading as fd 4. */
export function holdingPipe(conmon: string, args: string[], pipe: string | undefined): [string, string[]] {
  if (pipe === undefined) return [conmon, args];
  return ['/bin/sh', ['-c', 'exec 4<>"$0" && exec "$@"', pipe, conmon, ...args]];
}
