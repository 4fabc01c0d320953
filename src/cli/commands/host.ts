import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

export function hostCommand(program: Command, ctx: CliContext): void {
  const host = program.command('host').description('change a host: cordon (no new tasks) or uncordon');
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
