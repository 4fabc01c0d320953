/**
 * Where a process task's stdout and stderr go: its named pipes, read by the log writer
 * (log-writer.ts), which writes its log files and counts what it could not write.
 */
import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { createDropsFile } from './log-drops.ts';
import { pipePath } from './log-writer.ts';
import type { WriterClient } from './writer-client.ts';
import type { TaskLogs } from './task-logs.ts';
import { promisify } from 'node:util';

async function makeFifos(paths: string[]): Promise<void> {
  await promisify(execFile)('mkfifo', ['-m', '600', ...paths]);
}

/**
 * The task's stdout and stderr for spawn (the caller closes them once it is spawned): its named
 * pipes, opened for reading and writing (the task never gets SIGPIPE, and the pipes have a writer
 * before the writer opens them), once the writer has them open. Without a writer (it cannot be
 * started), the log files themselves, as before the writer existed; `shipped` says which.
 */
export async function openTaskOutputs(
  writer: WriterClient,
  taskId: string,
  dir: string,
  logs: TaskLogs,
  log: Logger,
): Promise<{ out: FileHandle; err: FileHandle; shipped: boolean }> {
  // The log files exist from the start: readers find them before the first line.
  for (const s of ['stdout', 'stderr'] as const) await (await open(logs.path(s), 'a', 0o600)).close();
  const pipes = [pipePath(dir, 'stdout'), pipePath(dir, 'stderr')] as const;
  const held: FileHandle[] = [];
  try {
    await createDropsFile(dir);
    await makeFifos([...pipes]);
    for (const p of pipes) held.push(await open(p, constants.O_RDWR));
    await writer.open(taskId);
    return { out: held[0]!, err: held[1]!, shipped: true };
  } catch (e) {
    for (const h of held) await h.close().catch(() => undefined);
    for (const p of pipes) await rm(p, { force: true }).catch(() => undefined);
    log.warn(
      { taskId, err: messageOf(e) },
      'no log writer: the task writes its log files itself (a full disk fails its writes)',
    );
    const out = await open(logs.path('stdout'), 'a', 0o600);
    const err = await open(logs.path('stderr'), 'a', 0o600).catch(async (x: unknown) => {
      await out.close();
      throw x;
    });
    return { out, err, shipped: false };
  }
}
