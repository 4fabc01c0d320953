/**
 * Rows of the two tables Dabba fills itself: `events` (its event log) and `tasklogs` (what tasks
 * write to stdout and stderr). Pure.
 */
import {
  namespaceOfJobId,
  splitJobId,
  type DabbaEvent,
  type LogValue,
  type TaskLogLine,
} from '../../model/index.ts';

export const EVENTS_TABLE = 'events';
export const TASKLOGS_TABLE = 'tasklogs';

/** An event as a row: its fields (job as its name), in its job's namespace ('' for none). */
export function eventRow(e: DabbaEvent): { row: Record<string, unknown>; namespace: string } {
  const { job, at, ...rest } = e;
  const row: Record<string, unknown> = { ...rest, time: at };
  if (job !== undefined) row['job'] = splitJobId(job).name;
  return { row, namespace: job === undefined ? '' : namespaceOfJobId(job) };
}

/**
 * A task's line as a row: a JSON object's fields as columns (its own `time` too, when it has one),
 * any other line as `message`; then `task`, `job` (name), `host` and `stream`, which the line
 * cannot override.
 */
export function taskLogRow(
  line: TaskLogLine,
  host: string,
): { row: Record<string, unknown>; fixed: Record<string, LogValue>; namespace: string } {
  let row: Record<string, unknown> | undefined;
  const text = line.text.trim();
  if (text.startsWith('{') && text.endsWith('}')) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        row = parsed as Record<string, unknown>;
    } catch {
      // not JSON after all: a message
    }
  }
  row ??= { message: line.text };
  if (!('time' in row)) row = { ...row, time: line.time };
  return {
    row,
    fixed: { task: line.task, job: splitJobId(line.job).name, host, stream: line.stream },
    namespace: namespaceOfJobId(line.job),
  };
}
