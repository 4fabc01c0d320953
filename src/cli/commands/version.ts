import type { Command } from 'commander';
import { describeError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { CLI_VERSION } from '../version.ts';
import { CommandExit } from '../cli-error.ts';

export function versionCommand(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description("the CLI's version, and the server's: its version, store and the runtimes of its hosts")
    .option('--json', 'machine-readable output: {client, server} (server null when unreachable)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (opts: { json?: boolean; addr?: string }) => {
      const client = ctx.client(opts.addr);
      let server;
      let problem: ReturnType<typeof describeError> | undefined;
      try {
        server = await client.version();
      } catch (e) {
        problem = describeError(e);
      }
      if (opts.json) {
        ctx.out.write(
          JSON.stringify(
            {
              client: { version: CLI_VERSION },
              server: server ? { addr: client.addr, ...server } : null,
              ...(problem ? { error: problem.message } : {}),
            },
            null,
            2,
          ) + '\n',
        );
      } else {
        ctx.out.write(`client: dabba ${CLI_VERSION}\n`);
        if (server) {
          const runtimes =
            server.runtimes.length === 0
              ? 'no hosts yet'
              : server.runtimes
                  .map((r) => `${r.runtime} (${r.up} of ${r.hosts} host${r.hosts === 1 ? '' : 's'} up)`)
                  .join(', ');
          ctx.out.write(`server: dabba ${server.version} at ${client.addr}, store ${server.store}\n`);
          ctx.out.write(`runtime: ${runtimes}\n`);
        }
      }
      if (problem) {
        ctx.err.write(`error: server: ${problem.message}\n`);
        throw new CommandExit(problem.exitCode);
      }
    });
}
