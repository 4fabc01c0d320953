import type { Command } from 'commander';
import { parseDuration, sleep } from '../../lib/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { hostHistoryCommand } from './host-history.ts';

export function hostCommand(program: Command, ctx: CliContext): void {
  const host = program.command('host').description('a host: cordon, uncordon, drain; its history');
  hostHistoryCommand(host, ctx);
  host
    .command('drain')
    .description("move a host's tasks elsewhere under each job's budget; at the deadline stop the rest")
    .argument('<host>', 'host id (see dabba hosts)')
    .option('--deadline <duration>', 'stop whatever is left after this long (e.g. 10m); default: no deadline')
    .option('--detach', 'do not wait until the host is drained')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (id: string, opts: { deadline?: string; detach?: boolean; addr?: string }) => {
      if (opts.deadline !== undefined && !parseDuration(opts.deadline).ok) {
        throw new CliError(`--deadline "${opts.deadline}" is not a duration (e.g. 30s, 10m)`, EXIT.USAGE);
      }
      const client = ctx.client(opts.addr);
      await client.drainHost(id, opts.deadline);
      ctx.out.write(`host ${id} draining${opts.deadline ? ` (deadline ${opts.deadline})` : ''}\n`);
      if (opts.detach) return;
      let last = '';
      for (;;) {
        const h = (await client.hosts()).find((x) => x.id === id);
        if (!h) throw new CliError(`host ${id} disappeared`, EXIT.NOT_FOUND);
        const line = h.drain ?? h.state;
        if (line !== last) {
          ctx.out.write(`${line}\n`);
          last = line;
        }
        if (h.tasks === 0) {
          ctx.out.write(`host ${id} is drained\n`);
          return;
        }
        if (h.state !== 'draining')
          throw new CliError(`host ${id} is ${h.state} now; the drain stopped`, EXIT.FAILED);
        await sleep(500, ctx.signal);
        if (ctx.signal.aborted)
          throw new CliError('interrupted; the drain goes on (see dabba hosts)', EXIT.INTERRUPTED);
      }
    });
  for (const action of ['cordon', 'uncordon'] as const) {
    host
      .command(action)
      .description(
        action === 'cordon'
          ? 'stop placing new tasks on a host (its tasks keep running)'
          : 'make a cordoned host schedulable again',
      )
      .argument('<host>', 'host id (see dabba hosts)')
      .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
      .action(async (id: string, opts: { addr?: string }) => {
        const r = await ctx.client(opts.addr).setHostSchedulable(id, action);
        ctx.out.write(
          r.changed ? `host ${id} is now ${r.schedulable}\n` : `host ${id} was already ${r.schedulable}\n`,
        );
      });
  }
}
