import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** What the agent remembers of a task across its own restarts (the runtime remembers the process). */
export interface TaskMemory {
  restarts: number;
  healthySince?: number;
}

export class TaskStateFiles {
  readonly #dir: string;
  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'tasks');
  }
  async read(id: string): Promise<TaskMemory | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#dir, `${id}.json`), 'utf8')) as TaskMemory;
    } catch {
      return undefined;
    }
  }
  async write(id: string, memory: TaskMemory): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    const tmp = join(this.#dir, `.${id}.json.tmp`);
    await writeFile(tmp, JSON.stringify(memory));
    await rename(tmp, join(this.#dir, `${id}.json`));
  }
  async remove(id: string): Promise<void> {
    await rm(join(this.#dir, `${id}.json`), { force: true });
  }
}
