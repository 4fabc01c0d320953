import type { Command } from 'commander';
import type { DabbaEvent } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

/** One event as a line: time, kind, message. */
export function formatEvent(e: DabbaEvent): string {
  return `${new Date(e.at).toISOString()}  ${e.kind.padEnd(20)}  ${e.message}\n`;
}

export function eventsCommand(program: Command, ctx: CliContext): void {
  program
    .command('events')
    .description(
      'what happened, oldest first: task starts, exits and why, restarts, placements, rollout steps',
    )
    .argument('[job]', 'only the events of this job')
    .option('-f, --follow', 'keep printing events as they happen (Ctrl-C ends)')
    .option('--limit <n>', 'how many of the newest events to show first', '100')
    .option('--json', 'one JSON object per line (with -f) or a JSON array')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(
      async (
        job: string | undefined,
        opts: { follow?: boolean; limit: string; json?: boolean; addr?: string },
      ) => {
        const limit = Number(opts.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 5000)
          throw new CliError('--limit must be an integer from 1 to 5000', EXIT.USAGE);
        const client = ctx.client(opts.addr);
        const filter = { limit, ...(job === undefined ? {} : { job }) };
        if (!opts.follow) {
          const events = await client.events(filter);
          if (opts.json) return ctx.out.write(JSON.stringify(events, null, 2) + '\n');
          if (events.length === 0)
            return ctx.out.write(job === undefined ? 'no events\n' : `no events of job ${job}\n`);
          for (const e of events) ctx.out.write(formatEvent(e));
          return;
        }
        try {
          for await (const e of client.followEvents({ ...filter, signal: ctx.signal }))
            ctx.out.write(opts.json ? JSON.stringify(e) + '\n' : formatEvent(e));
        } catch (e) {
          if (!ctx.signal.aborted) throw e;
        }
        // Following ends only on Ctrl-C: exit 130, quietly.
        throw new CliError('', EXIT.INTERRUPTED);
      },
    );
}
