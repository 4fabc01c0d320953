import type { Command } from 'commander';
import { parseDuration } from '../../lib/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { table } from '../output.ts';

/** `dabba audit [--since DUR] [--json]`: the write requests the server recorded (admin). */
export function auditCommand(program: Command, ctx: CliContext): void {
  program
    .command('audit')
    .description('who changed what, when, from where, with what outcome (admin)')
    .option('--since <duration>', 'only the last DURATION (e.g. 1h)', '24h')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { since: string; addr?: string; json?: boolean }) => {
      const d = parseDuration(opts.since);
      if (!d.ok) throw new CliError(`--since: ${d.error}`, EXIT.USAGE);
      const rows = await ctx.client(opts.addr).audit(Date.now() - d.ms);
      if (opts.json) return ctx.out.write(JSON.stringify(rows, null, 2) + '\n');
      if (rows.length === 0) return ctx.out.write(`no writes recorded in the last ${opts.since}\n`);
      ctx.out.write(
        table(
          ['TIME', 'WHO', 'REQUEST', 'NAMESPACE', 'FROM', 'STATUS'],
          rows.map((r) => [
            new Date(r.at).toISOString(),
            r.who,
            `${r.method} ${r.path}`,
            r.namespace ?? '-',
            r.remote ?? '-',
            String(r.status),
          ]),
        ),
      );
    });
}
