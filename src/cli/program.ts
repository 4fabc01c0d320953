import { Command, CommanderError } from 'commander';
import { describeError } from './cli-error.ts';
import { daemonCommands } from './commands/daemons.ts';
import { deployCommand } from './commands/deploy.ts';
import { eventsCommand } from './commands/events.ts';
import { hostCommand } from './commands/host.ts';
import { hostsCommand } from './commands/hosts.ts';
import { imageCommand } from './commands/image.ts';
import { rollbackCommands } from './commands/rollback.ts';
import { logsCommand } from './commands/logs.ts';
import { planCommand } from './commands/plan.ts';
import { serversCommand } from './commands/servers.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';
import type { CliContext } from './context.ts';
import { EXIT } from './exit-codes.ts';

export function buildProgram(ctx: CliContext): Command {
  const program = new Command('dabba')
    .description('Dabba: deploy, run and keep services healthy on a fleet of hosts')
    .version('0.1.0')
    .option('--debug', 'show stack traces of errors')
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
  eventsCommand(program, ctx);
  hostsCommand(program, ctx);
  hostCommand(program, ctx);
  rollbackCommands(program, ctx);
  imageCommand(program, ctx);
  serversCommand(program, ctx);
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
    // An empty message says nothing more is to be said (a follow ended by Ctrl-C: exit 130).
    if (message !== '') ctx.err.write(`error: ${message}\n`);
    if (debug && e instanceof Error && e.stack) ctx.err.write(`${e.stack}\n`);
    return exitCode;
  }
}
