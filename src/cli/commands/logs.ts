import type { Command } from 'commander';
import type { DabbaClient } from '../../client/index.ts';
import { DabbaError } from '../../errors/index.ts';
import { describeExit, jobOfTaskId, type LogDrop, type LogGap, type LogInstance } from '../../model/index.ts';
import { CliError, describeError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { ago } from '../output.ts';

interface LogsOptions {
  follow?: boolean;
  tail?: string;
  timestamps?: boolean;
  json?: boolean;
  previous?: boolean;
  task?: string;
  addr?: string;
}

type Line = { stream: string; time?: number; text: string };

/**
 * The tasks whose logs to show: TARGET itself when it is a task id, else the placed tasks of the
 * job TARGET (`--task` picks one of them).
 */
async function resolveTasks(
  client: DabbaClient,
  target: string,
  task: string | undefined,
): Promise<{ ids: string[]; job: boolean }> {
  if (task !== undefined) return { ids: [task], job: false };
  const jobOfTask = jobOfTaskId(target);
  if (jobOfTask !== undefined) {
    const rows = await client.jobTasks(jobOfTask).catch((e: unknown) => {
      if (e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND') return [];
      throw e;
    });
    if (rows.some((r) => r.id === target)) return { ids: [target], job: false };
  }
  const rows = await client.jobTasks(target).catch((e: unknown) => {
    if (e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND')
      throw new CliError(`no task or job named "${target}" (see dabba status)`, EXIT.NOT_FOUND);
    throw e;
  });
  const ids = rows.filter((r) => r.host !== null).map((r) => r.id);
  if (ids.length === 0) throw new CliError(`job ${target} has no task on a host yet`, EXIT.NOT_FOUND);
  return { ids, job: true };
}

/** The stderr note for a log that is not the running instance's (shown when not asked for). */
function instanceNote(id: string, i: LogInstance): string {
  const how = i.exit ? ` (it ended ${ago(i.exit.at)} ago: ${describeExit(i.exit)})` : '';
  return `task ${id} is not running: showing the output of its previous run${how}\n`;
}

/**
 * The stderr note for a log with holes: when the host's disk took no writes, the task's output was
 * dropped (by its writer, which the agent is not: it can say when, not how much).
 */
export function gapsNote(id: string, gaps: LogGap[]): string {
  const when = (t: number): string => new Date(t).toISOString();
  return gaps
    .map((g) => {
      const what = g.condition === 'DiskReadOnly' ? 'read-only' : 'full';
      const span = g.to === undefined ? `since ${when(g.from)}` : `from ${when(g.from)} to ${when(g.to)}`;
      return `task ${id}: its host's disk was ${what} ${span} (${g.condition}): output written then is missing from this log\n`;
    })
    .join('');
}

const REASONS: Record<string, string> = {
  ENOSPC: "its host's disk was full",
  EDQUOT: "its host's disk quota was used up",
  EROFS: "its host's disk was read-only",
};

/** The stderr note for output the runtime's log writer dropped and counted. */
export function dropsNote(id: string, drops: LogDrop[]): string {
  const when = (t: number): string => new Date(t).toISOString();
  return drops
    .map((d) => {
      const span = d.to === undefined ? `since ${when(d.from)}` : `from ${when(d.from)} to ${when(d.to)}`;
      const why = REASONS[d.reason] ?? `writing its log failed (${d.reason})`;
      return `task ${id}: ${d.bytes} bytes (${d.lines} lines) of ${d.stream} dropped ${span}: ${why} (${d.reason})\n`;
    })
    .join('');
}

export function logsCommand(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description(
      "print a task's output (stdout and stderr), or all of a job's tasks' prefixed with the task id",
    )
    .argument('<task|job>', 'a task id (see dabba status JOB), or a job name for all its tasks')
    .option('-f, --follow', 'keep printing as the task writes (Ctrl-C ends, exit 130)')
    .option('--tail <n>', 'only the last N lines (of each task)')
    .option('-t, --timestamps', 'prefix each line with its time (when the runtime records it)')
    .option('--previous', 'the output of the run before the current one (kept across a restart)')
    .option('--task <id>', 'with a job name: only this task of the job')
    .option('--json', 'one JSON object per line: {stream, time, text} (and task, for a job)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (target: string, opts: LogsOptions) => {
      let tail: number | undefined;
      if (opts.tail !== undefined) {
        tail = Number(opts.tail);
        if (!Number.isInteger(tail) || tail < 0)
          throw new CliError('--tail must be a non-negative integer', EXIT.USAGE);
      }
      const client = ctx.client(opts.addr);
      try {
        const { ids, job } = await resolveTasks(client, target, opts.task);
        const print = (id: string, line: Line): void => {
          if (opts.json) {
            ctx.out.write(JSON.stringify(job ? { task: id, ...line } : line) + '\n');
            return;
          }
          const ts = opts.timestamps
            ? `${line.time !== undefined ? new Date(line.time).toISOString() : '-'} ${line.stream} `
            : '';
          ctx.out.write(`${job ? `${id} | ` : ''}${ts}${line.text}\n`);
        };
        const read = (id: string): AsyncGenerator<Line> =>
          client.logs(id, {
            follow: opts.follow === true,
            signal: ctx.signal,
            ...(tail === undefined ? {} : { tail }),
            ...(opts.previous ? { previous: true } : {}),
            onInstance: (i) => {
              if (!i.requested) ctx.err.write(instanceNote(id, i));
            },
            onGaps: (gaps) => ctx.err.write(gapsNote(id, gaps)),
            onDrops: (drops) => ctx.err.write(dropsNote(id, drops)),
          });
        if (!job) {
          for await (const line of read(ids[0] ?? target)) print(ids[0] ?? target, line);
        } else if (opts.follow) {
          // Each task's lines as they come.
          const failures = await Promise.all(ids.map((id) => streamInto(id, read(id), print)));
          reportFailures(ctx, ids, failures);
        } else {
          // Each task's log in full, then interleaved by time where the runtime records it.
          const all: { id: string; line: Line; n: number }[] = [];
          const failures = await Promise.all(
            ids.map((id) => streamInto(id, read(id), (_, line) => all.push({ id, line, n: all.length }))),
          );
          if (all.every((l) => l.line.time !== undefined))
            all.sort((a, b) => (a.line.time ?? 0) - (b.line.time ?? 0) || a.n - b.n);
          for (const l of all) print(l.id, l.line);
          reportFailures(ctx, ids, failures);
        }
      } catch (e) {
        if (!ctx.signal.aborted) throw e;
      }
      // Only a follow ends this way, on Ctrl-C: exit 130, nothing more to say.
      if (ctx.signal.aborted) throw new CliError('', EXIT.INTERRUPTED);
    });
}

/** Reads one task's lines into `sink`; the error, if reading failed. */
async function streamInto(
  id: string,
  lines: AsyncGenerator<Line>,
  sink: (id: string, line: Line) => void,
): Promise<unknown> {
  try {
    for await (const line of lines) sink(id, line);
    return undefined;
  } catch (e) {
    return e ?? new Error('failed');
  }
}

/** Says which tasks' logs could not be read; fails when none could. */
function reportFailures(ctx: CliContext, ids: string[], failures: unknown[]): void {
  if (ctx.signal.aborted) return;
  const failed = failures.flatMap((e, i) => (e === undefined ? [] : [{ id: ids[i] ?? '?', e }]));
  for (const f of failed) ctx.err.write(`warning: ${f.id}: ${describeError(f.e).message}\n`);
  const first = failed[0];
  if (first !== undefined && failed.length === ids.length) {
    const { message, exitCode } = describeError(first.e);
    throw new CliError(`no log could be read: ${message}`, exitCode, { cause: first.e });
  }
}
