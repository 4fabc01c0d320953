import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { waitForRollout } from './deploy.ts';

/** How long to wait for a rollout the CLI did not read a job file for (its deadline is the server's). */
const WAIT_MS = 10 * 60_000;

export function scaleCommand(program: Command, ctx: CliContext): void {
  program
    .command('scale')
    .description('change the number of replicas: a new version with only `replicas` changed, rolled out')
    .argument('<job>', 'job name')
    .argument('<replicas>', 'number of replicas (0 to 10000)')
    .option('--detach', 'do not wait for the rollout')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (job: string, n: string, opts: { detach?: boolean; addr?: string }) => {
      const replicas = Number(n);
      if (!/^\d+$/.test(n) || replicas > 10_000)
        throw new CliError(`replicas "${n}" must be a whole number from 0 to 10000`, EXIT.USAGE);
      const client = ctx.client(opts.addr);
      const r = await client.scaleJob(job, replicas);
      if (!r.changed) {
        ctx.out.write(`job ${job} already has ${replicas} replicas (version ${r.version})\n`);
        return;
      }
      ctx.out.write(`job ${job}: version ${r.version} has ${replicas} replicas (was version ${r.from})\n`);
      if (opts.detach) return;
      const final = await waitForRollout(client, job, r.version, ctx, (s) => ctx.out.write(s), WAIT_MS);
      if (!final.ok) throw new CliError(final.message, EXIT.FAILED);
    });
}

export function restartCommand(program: Command, ctx: CliContext): void {
  program
    .command('restart')
    .description('replace every task of a job with a new one, a few at a time under its update budget')
    .argument('<job>', 'job name')
    .option('--detach', 'do not wait for the rollout')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (job: string, opts: { detach?: boolean; addr?: string }) => {
      const client = ctx.client(opts.addr);
      const r = await client.restartJob(job);
      ctx.out.write(`job ${job}: version ${r.version} restarts every task (was version ${r.from})\n`);
      if (opts.detach) return;
      const final = await waitForRollout(client, job, r.version, ctx, (s) => ctx.out.write(s), WAIT_MS);
      if (!final.ok) throw new CliError(final.message, EXIT.FAILED);
    });
}
