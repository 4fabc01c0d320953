import type { Command } from 'commander';
import type { LogTableQueryResult, LogValue } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { table } from '../output.ts';

interface QueryOptions {
  where: string[];
  by: string[];
  agg?: string;
  since?: string;
  bucket?: string;
  limit?: string;
  addr?: string;
  json?: boolean;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

function cell(v: LogValue | undefined): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
  return String(v).replaceAll('\n', '\\n');
}

function render(r: LogTableQueryResult): string {
  if (r.rows.length === 0) return `no rows in ${r.table} match\n`;
  const head = r.columns.map((c) => c.toUpperCase());
  const body = table(
    head,
    r.rows.map((row) => r.columns.map((c) => cell(row[c]))),
  );
  return r.sampled ? `${body}(counts and sums corrected for sampling)\n` : body;
}

/**
 * `dabba table query TABLE [--where EXPR]... [--by COL]... [--agg LIST] [--since DUR] [--bucket DUR]`
 * and `dabba table ls`: the log tables (events, tasklogs, and those services write to).
 */
export function tableCommand(program: Command, ctx: CliContext): void {
  const cmd = program.command('table').description('log tables: events, task logs, rows services write');
  cmd
    .command('query')
    .argument('<table>', 'events, tasklogs, or a table a service writes to')
    .description('filter, group and aggregate a log table')
    .option(
      '--where <expr>',
      'COL=V, COL!=V, COL>N, COL>=N, COL<N, COL<=N, COL~REGEX, COL!~REGEX (repeatable: all hold)',
      collect,
      [],
    )
    .option('--by <col>', 'group by this column (repeatable)', collect, [])
    .option(
      '--agg <list>',
      'count, sum(COL), avg(COL), min(COL), max(COL), pNN(COL); comma-separated (default count)',
    )
    .option('--since <duration>', 'only rows newer than this (30s, 15m, 1h, 7d)')
    .option('--bucket <duration>', 'also group by time buckets this wide (1m, 1h)')
    .option('--limit <n>', 'at most this many result rows')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nWithout --by, --agg or --bucket: the newest matching rows themselves.\nExamples:\n  dabba table query events --where reason=OOMKilled\n  dabba table query tasklogs --where job=web --by level --agg count --since 1h',
    )
    .action(async (name: string, opts: QueryOptions) => {
      const r = await ctx.client(opts.addr).queryTable(name, {
        where: opts.where,
        by: opts.by,
        ...(opts.agg === undefined ? {} : { agg: opts.agg }),
        ...(opts.since === undefined ? {} : { since: opts.since }),
        ...(opts.bucket === undefined ? {} : { bucket: opts.bucket }),
        ...(opts.limit === undefined ? {} : { limit: Number(opts.limit) }),
      });
      ctx.out.write(opts.json ? JSON.stringify(r, null, 2) + '\n' : render(r));
    });
  cmd
    .command('ls')
    .description('the log tables, their columns and row counts')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const tables = await ctx.client(opts.addr).listTables();
      if (opts.json) return ctx.out.write(JSON.stringify(tables, null, 2) + '\n');
      if (tables.length === 0) return ctx.out.write('no log tables yet\n');
      ctx.out.write(
        table(
          ['TABLE', 'ROWS', 'SAMPLE', 'COLUMNS'],
          tables.map((t) => [
            t.name,
            String(t.rows),
            t.sampleRate === 1 ? '-' : `1/${t.sampleRate}`,
            t.columns.map((c) => c.name).join(' '),
          ]),
        ),
      );
    });
}
