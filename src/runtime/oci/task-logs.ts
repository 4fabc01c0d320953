/** Reading a task's log (conmon's CRI-format ctr.log), or its previous run's. */
import { join } from 'node:path';
import { sleep } from '../../lib/index.ts';
import type { LogLine, LogReadOptions } from '../runtime.ts';
import { exists } from './cgroups.ts';
import { readCriLog } from './cri-log.ts';
import type { OciPaths } from './paths.ts';
import { TASK_ID, fail } from './support.ts';
import type { TaskRecord } from './task-record.ts';

/** How long a read of an ended task's log waits for the log writer to have written all of it. */
const DRAIN_WAIT_MS = 5000;

/**
 * The current run's log of the task whose record is `r` (followed until `finished` says so), or
 * with `options.previous` the log kept of its previous run. The log of a task that has ended is
 * read once the log writer has written all the task wrote (`drained`; at most DRAIN_WAIT_MS):
 * a task that prints and exits at once may end before the writer has even taken its pipe up.
 */
export async function* readTaskLog(
  paths: OciPaths,
  taskId: string,
  options: LogReadOptions,
  r: TaskRecord | undefined,
  ended: { finished: () => Promise<boolean>; drained: () => Promise<void> },
): AsyncGenerator<LogLine> {
  const { finished } = ended;
  if (options.previous === true) {
    const path = paths.previousLog(taskId);
    if (!TASK_ID.test(taskId) || !(await exists(path)))
      throw fail('NotFound', `task ${taskId} has no previous run on this host`, { taskId });
    yield* readCriLog(path, { ...options, follow: false }, { finished: () => Promise.resolve(true) });
    return;
  }
  if (!r) throw fail('NotFound', `task ${taskId} is not known to the oci runtime`, { taskId });
  if (await finished()) {
    const ac = new AbortController();
    await Promise.race([ended.drained(), sleep(DRAIN_WAIT_MS, ac.signal)]);
    ac.abort();
  }
  yield* readCriLog(join(paths.taskDir(taskId), 'ctr.log'), options, { finished });
}
