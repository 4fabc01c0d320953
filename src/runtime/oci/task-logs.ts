/** Reading a task's log (conmon's CRI-format ctr.log), or its previous run's. */
import { join } from 'node:path';
import type { LogLine, LogReadOptions } from '../runtime.ts';
import { exists } from './cgroups.ts';
import { readCriLog } from './cri-log.ts';
import type { OciPaths } from './paths.ts';
import { TASK_ID, fail } from './support.ts';
import type { TaskRecord } from './task-record.ts';

/**
 * The current run's log of the task whose record is `r` (followed until `finished` says so), or
 * with `options.previous` the log kept of its previous run.
 */
export async function* readTaskLog(
  paths: OciPaths,
  taskId: string,
  options: LogReadOptions,
  r: TaskRecord | undefined,
  finished: () => Promise<boolean>,
): AsyncGenerator<LogLine> {
  if (options.previous === true) {
    const path = paths.previousLog(taskId);
    if (!TASK_ID.test(taskId) || !(await exists(path)))
      throw fail('NotFound', `task ${taskId} has no previous run on this host`, { taskId });
    yield* readCriLog(path, { ...options, follow: false }, { finished: () => Promise.resolve(true) });
    return;
  }
  if (!r) throw fail('NotFound', `task ${taskId} is not known to the oci runtime`, { taskId });
  yield* readCriLog(join(paths.taskDir(taskId), 'ctr.log'), options, { finished });
}
