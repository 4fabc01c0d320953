import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { messageOf, storageFaultOf } from '../errors/index.ts';
import { silentLogger, type Logger } from '../lib/index.ts';

/** What the agent remembers of a task across its own restarts (the runtime remembers the process). */
export interface TaskMemory {
  restarts: number;
  healthySince?: number;
}

/** How often a state file that could not be written (full or read-only disk) is tried again. */
const RETRY_MS = 2000;

/**
 * One small JSON file per task, written whole (temp file, then rename). A write that fails (a full
 * or read-only disk) never fails the task: the newest memory is kept and written again every few
 * seconds until it is written, replaced or removed; reads meanwhile see it too.
 */
export class TaskStateFiles {
  readonly #dir: string;
  readonly #log: Logger;
  /** Memories not written yet, by task id. */
  readonly #unwritten = new Map<string, TaskMemory>();
  #timer: NodeJS.Timeout | undefined;
  /** Removed while a retry may be writing them: the retry removes what it wrote. */
  readonly #removed = new Set<string>();

  constructor(dataDir: string, logger: Logger = silentLogger) {
    this.#dir = join(dataDir, 'tasks');
    this.#log = logger;
  }
  async read(id: string): Promise<TaskMemory | undefined> {
    const pending = this.#unwritten.get(id);
    if (pending !== undefined) return pending;
    try {
      return JSON.parse(await readFile(join(this.#dir, `${id}.json`), 'utf8')) as TaskMemory;
    } catch {
      return undefined;
    }
  }
  /** Writes the memory; on failure keeps it and retries (resolves either way, after the first try). */
  async write(id: string, memory: TaskMemory): Promise<void> {
    this.#unwritten.delete(id);
    this.#removed.delete(id);
    try {
      await this.#writeFile(id, memory);
    } catch (e) {
      if (this.#unwritten.size === 0) {
        this.#log.warn(
          { task: id, err: messageOf(e), fault: storageFaultOf(e) },
          'task state file not written; kept in memory and retried until it can be',
        );
      }
      this.#unwritten.set(id, memory);
      this.#arm();
    }
  }
  async remove(id: string): Promise<void> {
    if (this.#unwritten.delete(id)) this.#removed.add(id);
    await rm(join(this.#dir, `${id}.json`), { force: true });
  }
  /** Task ids whose memory waits to be written (for tests and status). */
  unwritten(): string[] {
    return [...this.#unwritten.keys()];
  }

  async #writeFile(id: string, memory: TaskMemory): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = join(this.#dir, `.${id}.json.tmp`);
    try {
      await writeFile(tmp, JSON.stringify(memory));
      await rename(tmp, join(this.#dir, `${id}.json`));
    } catch (e) {
      await rm(tmp, { force: true }).catch(() => undefined);
      throw e;
    }
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => void this.#retry(), RETRY_MS);
    this.#timer.unref();
  }

  async #retry(): Promise<void> {
    this.#timer = undefined;
    for (const [id, memory] of [...this.#unwritten]) {
      try {
        await this.#writeFile(id, memory);
        if (this.#unwritten.get(id) === memory) this.#unwritten.delete(id);
        if (this.#removed.delete(id)) await rm(join(this.#dir, `${id}.json`), { force: true });
      } catch {
        break;
      }
    }
    if (this.#unwritten.size > 0) this.#arm();
    else this.#log.info('task state files written again');
  }
}
