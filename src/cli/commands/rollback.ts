import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { ago, table } from '../output.ts';
import { waitForRollout } from './deploy.ts';

export function rollbackCommands(program: Command, ctx: CliContext): void {
  program
    .command('rollback')
    .description('roll a job back to an earlier version (default: the last one that deployed healthy)')
    .argument('<job>', 'job name')
    .option('--to <version>', 'version whose spec to go back to')
    .option('--detach', 'do not wait for the rollout')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (job: string, opts: { to?: string; detach?: boolean; addr?: string }) => {
      let to: number | undefined;
      if (opts.to !== undefined) {
        to = Number(opts.to);
        if (!Number.isInteger(to) || to < 1)
          throw new CliError('--to must be a version number (see dabba history JOB)', EXIT.USAGE);
      }
      const client = ctx.client(opts.addr);
      const r = await client.rollbackJob(job, to);
      ctx.out.write(
        `job ${job}: version ${r.version} has the spec of version ${r.to} (was version ${r.from})\n`,
      );
      if (opts.detach) return;
      const final = await waitForRollout(client, job, r.version, ctx, (s) => ctx.out.write(s), 10 * 60_000);
      if (!final.ok) throw new CliError(final.message, EXIT.FAILED);
    });

  program
    .command('promote')
    .description('promote paused canaries: the rollout of the new version continues')
    .argument('<job>', 'job name')
    .option('--detach', 'do not wait for the rollout')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (job: string, opts: { detach?: boolean; addr?: string }) => {
      const client = ctx.client(opts.addr);
      const r = await client.promoteJob(job);
      ctx.out.write(
        r.changed
          ? `job ${job} version ${r.version} promoted\n`
          : `job ${job} version ${r.version} was already promoted\n`,
      );
      if (opts.detach) return;
      const final = await waitForRollout(client, job, r.version, ctx, (s) => ctx.out.write(s), 10 * 60_000);
      if (!final.ok) throw new CliError(final.message, EXIT.FAILED);
    });

  program
    .command('history')
    .description("a job's versions and how their rollouts went")
    .argument('<job>', 'job name')
    .option('--json', 'machine-readable output')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (job: string, opts: { json?: boolean; addr?: string }) => {
      const client = ctx.client(opts.addr);
      const [versions, deployments, view] = await Promise.all([
        client.jobVersions(job),
        client.jobDeployments(job),
        client.getJob(job),
      ]);
      const rows = versions.map((v) => {
        const d = deployments.find((x) => x.version === v.version);
        return {
          version: v.version,
          createdAt: v.createdAt,
          replicas: v.spec.replicas,
          deployment: d?.state ?? null,
          message: d?.message ?? null,
          current: v.version === view.version,
        };
      });
      if (opts.json) return ctx.out.write(JSON.stringify(rows, null, 2) + '\n');
      ctx.out.write(
        table(
          ['VERSION', 'CREATED', 'REPLICAS', 'ROLLOUT', 'MESSAGE'],
          rows.map((r) => [
            `${r.version}${r.current ? '*' : ''}`,
            `${ago(r.createdAt)} ago`,
            String(r.replicas),
            r.deployment ?? '-',
            r.message ?? '',
          ]),
        ),
      );
    });
}
