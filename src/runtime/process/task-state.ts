/**
 * What the runtime keeps on disk per task (tasks/ID/state.json), so a restarted agent can re-adopt
 * its tasks, and exit.json once the exit status is known. Written atomically (tmp file + rename).
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ExitStatus } from '../runtime.ts';

export const taskStateSchema = z.object({
  format: z.literal(1),
  taskId: z.string(),
  job: z.string(),
  version: z.number(),
  pid: z.number().int().positive(),
  /** /proc/PID/stat start time: guards against the pid being reused by another process. */
  procStartTime: z.number().nullable(),
  ports: z.record(z.string(), z.number()),
  startedAt: z.number(),
  command: z.array(z.string()),
  /** The environment the task got (exec runs with the same). */
  env: z.record(z.string(), z.string()),
  cwd: z.string(),
});

export type TaskState = z.infer<typeof taskStateSchema>;

const exitSchema = z.object({
  exitCode: z.number().nullable(),
  signal: z.string().nullable(),
  oomKilled: z.boolean(),
  reason: z.string(),
  finishedAt: z.number(),
});

export const STATE_FILE = 'state.json';
export const EXIT_FILE = 'exit.json';

/** Writes JSON to dir/name atomically. Never creates dir (a removed task stays removed). */
export async function writeJsonAtomic(dir: string, name: string, value: unknown): Promise<void> {
  const tmp = join(dir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(value), { mode: 0o600, flag: 'wx' });
    await rename(tmp, join(dir, name));
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export async function readTaskState(dir: string): Promise<TaskState | undefined> {
  const parsed = taskStateSchema.safeParse(await readJson(join(dir, STATE_FILE)));
  return parsed.success ? parsed.data : undefined;
}

export async function readExitStatus(dir: string): Promise<ExitStatus | undefined> {
  const parsed = exitSchema.safeParse(await readJson(join(dir, EXIT_FILE)));
  return parsed.success ? parsed.data : undefined;
}
