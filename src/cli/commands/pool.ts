import type { Command } from 'commander';
import type { PoolsView } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { ago, formatSize, table } from '../output.ts';

/** `dabba pool ls`: the pools with their hosts, then the loans with their start and holder. */
export function formatPools(v: PoolsView, now = Date.now()): string {
  let text = table(
    ['POOL', 'HOSTS', 'READY', 'OWN', 'LOANED OUT', 'LOANED IN', 'CPU', 'MEMORY'],
    v.pools.map((p) => [
      p.name,
      String(p.effective),
      String(p.ready),
      String(p.hosts),
      String(p.loanedOut),
      String(p.loanedIn),
      String(Math.round(p.capacity.cpu * 100) / 100),
      formatSize(p.capacity.memoryBytes),
    ]),
  );
  if (v.loans.length === 0) return text + 'no loans\n';
  text +=
    '\n' +
    table(
      ['HOST', 'FROM', 'HOLDER', 'SINCE', 'STATE'],
      v.loans.map((l) => [
        l.host,
        l.from,
        l.holder,
        `${new Date(l.start).toISOString()} (${ago(l.start, now)} ago)`,
        l.recall === undefined
          ? 'loaned'
          : `recalling since ${ago(l.recall.at, now)} ago, back by ${new Date(l.recall.deadline).toISOString()} (${l.recall.reason})`,
      ]),
    );
  return text;
}

export function poolCommand(program: Command, ctx: CliContext): void {
  const pool = program.command('pool').description('pools of hosts and the loans between them');
  pool
    .command('ls')
    .description(
      'list the pools (hosts, capacity) and the hosts loaned between them, with their start and holder',
    )
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const v = await ctx.client(opts.addr).pools();
      ctx.out.write(opts.json ? JSON.stringify(v, null, 2) + '\n' : formatPools(v));
    });
}
