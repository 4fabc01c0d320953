import type { Command } from 'commander';
import type { DabbaClient } from '../../client/index.ts';
import { sleep } from '../../lib/index.ts';
import type { JobView, TaskRow } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext, GlobalOptions } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { loadJobFile, resolveJobPath } from '../job-loader.ts';
import { endpointsOf } from './status.ts';

export function deployCommand(program: Command, ctx: CliContext): void {
  program
    .command('deploy')
    .description('submit a job file as a new version and wait for its rollout')
    .argument(
      '<file>',
      "job file (YAML), or a folder: its job.RUNTIME.yaml for the hosts' runtime, else job.yaml",
    )
    .option('--detach', 'do not wait for the rollout')
    .option('--addr <addr>', 'server address(es), comma-separated (default $DABBA_ADDR)')
    .option('--json', 'print the final job status as JSON')
    .action(async (file: string, opts: { detach?: boolean; addr?: string; json?: boolean }) => {
      const say = (s: string): void => (opts.json ? ctx.err : ctx.out).write(s);
      const { spec, userForm } = await loadJobFile(await resolveJobPath(file, ctx.client(opts.addr), say));
      const client = ctx.client(opts.addr, fileNamespace(program, spec.namespace));
      const put = await client.putJob(spec.name, userForm);
      say(
        put.changed
          ? `job ${put.job} version ${put.version} submitted\n`
          : `job ${put.job} unchanged (version ${put.version})\n`,
      );
      if (opts.detach) {
        if (opts.json) ctx.out.write(JSON.stringify(put, null, 2) + '\n');
        return;
      }
      // A batch job's deploy waits until it finishes (its own deadline, else as long as it takes).
      const waitMs =
        spec.batch === undefined
          ? spec.update.deadlineMs
          : (spec.batch.deadlineMs ?? Number.POSITIVE_INFINITY);
      const final = await waitForRollout(client, spec.name, put.version, ctx, say, waitMs);
      if (opts.json) ctx.out.write(JSON.stringify(final.view, null, 2) + '\n');
      if (!final.ok) throw new CliError(final.message, EXIT.FAILED);
    });
}

/**
 * The namespace of a job file's requests: the file's `namespace:` (which `-n` may repeat but not
 * contradict), else `-n`, else default.
 */
export function fileNamespace(program: Command, fromFile: string | undefined): { namespace?: string } {
  if (fromFile === undefined) return {};
  const given = program.opts<GlobalOptions>().namespace.at(-1);
  if (given !== undefined && given !== fromFile) {
    throw new CliError(`the job file is in namespace "${fromFile}" but -n says "${given}"`, EXIT.USAGE);
  }
  return { namespace: fromFile };
}

export async function waitForRollout(
  client: DabbaClient,
  name: string,
  version: number,
  ctx: CliContext,
  say: (s: string) => void,
  deadlineMs: number,
): Promise<{ ok: boolean; message: string; view: JobView }> {
  const tty = ctx.out.isTTY;
  const giveUpAt = Date.now() + deadlineMs + 30_000;
  let lastLine = '';
  for (;;) {
    if (ctx.signal.aborted)
      throw new CliError('interrupted; the rollout goes on (see dabba status)', EXIT.INTERRUPTED);
    const view = await client.getJob(name);
    const d = view.deployment;
    const mine = view.version === version ? d : null;
    const line = progressLine(view, version);
    if (line !== lastLine) {
      if (tty) say(`\r\x1b[2K${line}`);
      else say(`${line}\n`);
      lastLine = line;
    }
    if (view.version > version) {
      // A newer version appeared while we waited: an automatic rollback, or someone else's deploy.
      if (tty) say('\n');
      const ours = (await client.jobDeployments(name)).find((x) => x.version === version);
      return {
        ok: false,
        message:
          ours?.state === 'failed'
            ? `rollout of version ${version} failed: ${ours.message}; automatic rollback (now version ${view.version})`
            : `version ${version} was replaced by version ${view.version} (another deploy) before its rollout finished`,
        view,
      };
    }
    if (mine?.state === 'in-progress' && mine.phase === 'paused' && mine.promoted !== true) {
      if (tty) say('\n');
      say(
        `canaries of version ${version} are healthy; the rollout is paused for promotion: dabba promote ${name}\n`,
      );
      return { ok: true, message: 'paused for promotion', view };
    }
    if (mine?.state === 'succeeded') {
      // The scheduler calls a rollout done once no old task is meant to run; success is reported
      // here only once none still runs either (stopped, or gone), so none answers any more.
      const settled = await waitForOldTasks(client, name, version, ctx, say, tty, lastLine);
      if (tty) say('\n');
      if (!settled.ok) return { ok: false, message: settled.message, view: settled.view };
      say(summary(settled.view));
      return { ok: true, message: 'healthy', view: settled.view };
    }
    if (mine?.state === 'failed' || mine?.state === 'stopped' || mine?.state === 'superseded') {
      if (tty) say('\n');
      // With autoRollback the scheduler writes the rollback version right after; let it show.
      await sleep(1500, ctx.signal);
      const after = await client.getJob(name);
      const rolledBack = after.version > version ? `; rolled back (now version ${after.version})` : '';
      return {
        ok: false,
        message: `rollout of version ${version} ${mine.state}: ${mine.message}${rolledBack}`,
        view: after,
      };
    }
    if (view.status === 'stopped') {
      if (tty) say('\n');
      return { ok: false, message: `job ${name} was stopped during the rollout`, view };
    }
    if (Date.now() > giveUpAt) {
      if (tty) say('\n');
      return { ok: false, message: `rollout of version ${version} did not finish in time`, view };
    }
    await sleep(250, ctx.signal);
  }
}

/** Old tasks told to stop that have not stopped yet (they may still answer). */
function stillStopping(view: JobView): TaskRow[] {
  return view.tasks.filter(
    (t) => t.desired === 'stop' && t.host !== null && t.state !== 'stopped' && t.state !== 'failed',
  );
}

/** How long old tasks may take to stop once the rollout succeeded (their grace period and more). */
const OLD_TASKS_WAIT_MS = 2 * 60_000;

async function waitForOldTasks(
  client: DabbaClient,
  name: string,
  version: number,
  ctx: CliContext,
  say: (s: string) => void,
  tty: boolean,
  lastLine: string,
): Promise<{ ok: boolean; message: string; view: JobView }> {
  const giveUpAt = Date.now() + OLD_TASKS_WAIT_MS;
  let shown = lastLine;
  for (;;) {
    const view = await client.getJob(name);
    const stopping = stillStopping(view);
    const line = progressLine(view, version);
    if (line !== shown) {
      say(tty ? `\r\x1b[2K${line}` : `${line}\n`);
      shown = line;
    }
    if (stopping.length === 0) return { ok: true, message: 'healthy', view };
    if (view.version !== version)
      return { ok: false, message: `version ${version} was replaced by version ${view.version}`, view };
    if (Date.now() > giveUpAt) {
      return {
        ok: false,
        message: `version ${version} is healthy, but ${stopping.length} old task${stopping.length === 1 ? ' has' : 's have'} not stopped: ${stopping.map((t) => `${t.id} (${t.state} on ${t.host ?? '-'})`).join(', ')}`,
        view,
      };
    }
    await sleep(250, ctx.signal);
  }
}

/**
 * One line of progress. While the deployment of `version` exists its counts are the scheduler's
 * own (tasks kept from an earlier version with the same spec count as new); old tasks still
 * stopping are shown until they have stopped, so the last line matches the end state.
 */
function progressLine(view: JobView, version: number): string {
  const d = view.deployment?.version === version ? view.deployment : null;
  const mine = view.tasks.filter((t) => t.version === version && t.desired === 'run');
  const failing = mine.filter((t) => t.state === 'failed');
  const unplaced = mine.filter((t) => t.unplaced !== null);
  const stopping = stillStopping(view).length;
  let line: string;
  if (view.batch !== undefined) {
    line = `batch v${version}: ${d?.message ?? 'starting'}`;
  } else if (d) {
    line = `rollout v${version}: ${d.healthy}/${d.desired} healthy, ${d.running} running`;
    if (d.old > 0) line += `, ${d.old} old`;
  } else {
    const healthy = mine.filter((t) => t.state === 'running' && t.healthy).length;
    const running = mine.filter((t) => t.state === 'running').length;
    const old = view.tasks.filter((t) => t.version !== version && t.desired === 'run').length;
    line = `rollout v${version}: ${healthy}/${view.replicas} healthy, ${running} running`;
    if (old > 0) line += `, ${old} old`;
  }
  if (stopping > 0) line += `, ${stopping} old stopping`;
  if (failing.length > 0)
    line += `, ${failing.length} failing (${failing[0]?.reason ?? ''}: ${failing[0]?.message ?? ''})`;
  if (unplaced.length > 0) line += `, ${unplaced.length} unplaced (${unplaced[0]?.unplaced ?? ''})`;
  if (d && d.state !== 'in-progress' && !(d.state === 'succeeded' && stopping > 0)) line += ` [${d.state}]`;
  return line;
}

/** Where the job answers now: the ready tasks that are meant to run (after success: all current). */
function summary(view: JobView): string {
  if (view.batch !== undefined)
    return `job ${view.job} version ${view.version} finished: ${view.batch.message}\n`;
  const ready = view.tasks.filter((t) => t.desired === 'run' && t.state === 'running' && t.healthy);
  const eps = endpointsOf({ ...view, tasks: ready });
  let s = `job ${view.job} version ${view.version} is healthy: ${ready.length}/${view.replicas} tasks\n`;
  if (eps.length > 0) s += `reach it at:\n${eps.map((e) => `  ${e}`).join('\n')}\n`;
  return s;
}
