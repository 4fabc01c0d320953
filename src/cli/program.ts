import { Command, CommanderError } from 'commander';
import { describeError } from './cli-error.ts';
import { daemonCommands } from './commands/daemons.ts';
import { deployCommand } from './commands/deploy.ts';
import { hostCommand } from './commands/host.ts';
import { hostsCommand } from './commands/hosts.ts';
import { imageCommand } from './commands/image.ts';
import { rollbackCommands } from './commands/rollback.ts';
import { logsCommand } from './commands/logs.ts';
import { planCommand } from './commands/plan.ts';
import { serversCommand } from './commands/servers.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { EXIT } from './exit-codes.ts';
import { credentialsPath, readCredentials, type CredentialsFile } from './credentials.ts';
import { accessCommands } from './commands/access.ts';
import { auditCommand } from './commands/audit.ts';

/**
 * The context commands see: its client carries the token (`--token` > `DABBA_TOKEN` > the stored
 * credentials of the address) and the namespace (`-n`, `--all-namespaces`: `*`).
 */
function withCredentials(ctx: CliContext, program: Command): { ctx: CliContext; load: () => Promise<void> } {
  let stored: CredentialsFile = { servers: {} };
  const wrapped: CliContext = {
    ...ctx,
    client: (addr, o) => {
      const base = ctx.client(addr);
      const g = program.opts<GlobalOptions>();
      const token =
        o?.token ??
        g.token ??
        (ctx.env['DABBA_TOKEN'] || undefined) ??
        base.addrs.map((a) => stored.servers[a]?.token).find((t) => t !== undefined);
      const namespace = o?.namespace ?? (g.allNamespaces ? '*' : g.namespace.at(-1));
      return base.with({
        ...(token === undefined || token === '' ? {} : { token }),
        ...(namespace === undefined ? {} : { namespace }),
      });
    },
  };
  return {
    ctx: wrapped,
    load: async () => {
      const g = program.opts<GlobalOptions>();
      if (g.token === undefined && !ctx.env['DABBA_TOKEN'])
        stored = await readCredentials(credentialsPath(ctx.env));
    },
  };
}

export function buildProgram(outer: CliContext): Command {
  const program = new Command('dabba');
  const { ctx, load } = withCredentials(outer, program);
  program
    .description('Dabba: deploy, run and keep services healthy on a fleet of hosts')
    .version('0.1.0')
    .option('--debug', 'show stack traces of errors')
    .option('--token <token>', 'API token (default $DABBA_TOKEN, else the credentials `dabba login` stored)')
    .option(
      '-n, --namespace <ns>',
      'namespace of the jobs and tasks (default "default"); repeatable for `token create`',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--all-namespaces', 'lists: every namespace the token covers')
    .hook('preAction', load)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out.write(s),
      writeErr: (s) => ctx.err.write(s),
    });
  daemonCommands(program, ctx);
  deployCommand(program, ctx);
  planCommand(program, ctx);
  statusCommand(program, ctx);
  stopCommand(program, ctx);
  logsCommand(program, ctx);
  hostsCommand(program, ctx);
  hostCommand(program, ctx);
  rollbackCommands(program, ctx);
  imageCommand(program, ctx);
  serversCommand(program, ctx);
  accessCommands(program, ctx);
  auditCommand(program, ctx);
  for (const c of program.commands)
    c.exitOverride().configureOutput({
      writeOut: (s) => ctx.out.write(s),
      writeErr: (s) => ctx.err.write(s),
    });
  return program;
}

/** Runs the CLI; returns the exit code. Errors print as one message (a stack only with --debug). */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (
        e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.code === 'commander.help'
      )
        return EXIT.OK;
      return EXIT.USAGE;
    }
    const { message, exitCode } = describeError(e);
    ctx.err.write(`error: ${message}\n`);
    if (debug && e instanceof Error && e.stack) ctx.err.write(`${e.stack}\n`);
    return exitCode;
  }
}
