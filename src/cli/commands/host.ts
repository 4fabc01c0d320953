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
  host
    .command('maintenance')
    .description(
      "announce maintenance of hosts (their tasks move off from --start under each job's budget and controller; at the deadline the rest stop), or end it: dabba host maintenance end HOST...",
    )
    .argument('<hosts...>', 'host ids, or "end" followed by host ids')
    .option(
      '--deadline <time|duration>',
      'when the hosts must be empty: ISO-8601 time or duration from now (30m)',
    )
    .option(
      '--start <time|duration>',
      'when tasks start moving off (default: now); controllers are told before',
    )
    .option('--reason <text>', 'why (shown to people and to controllers)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(
      async (
        hosts: string[],
        opts: { deadline?: string; start?: string; reason?: string; addr?: string; json?: boolean },
      ) => {
        const client = ctx.client(opts.addr);
        if (hosts[0] === 'end') {
          const ids = hosts.slice(1);
          if (ids.length === 0)
            throw new CliError('dabba host maintenance end HOST...: name the hosts', EXIT.USAGE);
          const r = await client.endHostMaintenance(ids);
          if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
          for (const h of r.hosts)
            ctx.out.write(h.changed ? `host ${h.host} is ready\n` : `host ${h.host} was already ready\n`);
          return;
        }
        if (opts.deadline === undefined || opts.reason === undefined)
          throw new CliError(
            'dabba host maintenance HOST... needs --deadline TIME|DUR and --reason TEXT (and optionally --start TIME)',
            EXIT.USAGE,
          );
        const r = await client.hostMaintenance({
          hosts,
          deadline: opts.deadline,
          reason: opts.reason,
          ...(opts.start === undefined ? {} : { start: opts.start }),
        });
        if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
        ctx.out.write(
          `${hosts.join(', ')} in maintenance from ${new Date(r.start).toISOString()}, deadline ${new Date(r.deadline).toISOString()}: ${r.reason}\n`,
        );
      },
    );
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
