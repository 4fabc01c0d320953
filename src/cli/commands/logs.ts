import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

export function logsCommand(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("print a task's output (stdout and stderr)")
    .argument('<task>', 'task id (see dabba status JOB)')
    .option('-f, --follow', 'keep printing as the task writes')
    .option('--tail <n>', 'only the last N lines')
    .option('-t, --timestamps', 'prefix each line with its time (when the runtime records it)')
    .option('--json', 'one JSON object per line: {stream, time, text}')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(
      async (
        task: string,
        opts: { follow?: boolean; tail?: string; timestamps?: boolean; json?: boolean; addr?: string },
      ) => {
        let tail: number | undefined;
        if (opts.tail !== undefined) {
          tail = Number(opts.tail);
          if (!Number.isInteger(tail) || tail < 0)
            throw new CliError('--tail must be a non-negative integer', EXIT.USAGE);
        }
        const client = ctx.client(opts.addr);
        const o = {
          follow: opts.follow === true,
          signal: ctx.signal,
          ...(tail === undefined ? {} : { tail }),
        };
        for await (const line of client.logs(task, o)) {
          if (opts.json) {
            ctx.out.write(JSON.stringify(line) + '\n');
            continue;
          }
          const ts = opts.timestamps
            ? `${line.time !== undefined ? new Date(line.time).toISOString() : '-'} ${line.stream} `
            : '';
          ctx.out.write(`${ts}${line.text}\n`);
        }
      },
    );
}
