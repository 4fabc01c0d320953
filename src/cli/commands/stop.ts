import type { Command } from 'commander';
import { sleep } from '../../lib/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

export function stopCommand(program: Command, ctx: CliContext): void {
  program
    .command('stop')
    .description('stop a job: all its tasks are stopped (SIGTERM, grace period, SIGKILL)')
    .argument('<job>', 'job name')
    .option('--detach', 'do not wait for the tasks to stop')
    .option(
      '--purge',
      "once its tasks have stopped, remove the job's records (versions, deployments; events stay): the name is free again and its next deploy is version 1",
    )
    .option('--timeout <seconds>', 'how long to wait for the tasks', '120')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(
      async (job: string, opts: { detach?: boolean; purge?: boolean; addr?: string; timeout: string }) => {
        if (opts.detach && opts.purge)
          throw new CliError(
            '--purge waits for the tasks to stop; it cannot be used with --detach',
            EXIT.USAGE,
          );
        const timeout = Number(opts.timeout);
        if (!Number.isFinite(timeout) || timeout <= 0)
          throw new CliError('--timeout must be a positive number of seconds', EXIT.USAGE);
        const client = ctx.client(opts.addr);
        const r = await client.stopJob(job);
        ctx.out.write(r.stopped ? `job ${job} stopping\n` : `job ${job} was already stopped\n`);
        if (opts.detach) return;
        const until = Date.now() + timeout * 1000;
        let last = -1;
        for (;;) {
          const tasks = await client.jobTasks(job);
          if (tasks.length === 0) {
            ctx.out.write(`job ${job} stopped: no tasks left\n`);
            if (opts.purge) {
              const p = await client.purgeJob(job);
              ctx.out.write(
                `job ${job} purged: ${p.versions} version${p.versions === 1 ? '' : 's'} and ${p.deployments} deployment${p.deployments === 1 ? '' : 's'} removed (events stay)\n`,
              );
            }
            return;
          }
          if (tasks.length !== last) {
            ctx.out.write(`waiting for ${tasks.length} task${tasks.length === 1 ? '' : 's'} to stop\n`);
            last = tasks.length;
          }
          if (Date.now() > until)
            throw new CliError(
              `${tasks.length} tasks of ${job} still not stopped after ${timeout}s`,
              EXIT.FAILED,
            );
          await sleep(250, ctx.signal);
          if (ctx.signal.aborted)
            throw new CliError('interrupted; the tasks are still stopping', EXIT.INTERRUPTED);
        }
      },
    );
}
