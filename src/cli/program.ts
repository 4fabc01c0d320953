import { Command, CommanderError } from 'commander';
import { readFile } from 'node:fs/promises';
import type { ClientTls } from '../client/index.ts';
import { CliError, CommandExit, describeError } from './cli-error.ts';
import { CLI_VERSION } from './version.ts';
import { completionCommand } from './commands/completion.ts';
import { describeCommand } from './commands/describe.ts';
import { execCommand } from './commands/exec.ts';
import { restartCommand, scaleCommand } from './commands/scale.ts';
import { versionCommand } from './commands/version.ts';
import { daemonCommands } from './commands/daemons.ts';
import { deployCommand } from './commands/deploy.ts';
import { doctorCommand } from './commands/doctor.ts';
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

/** Reads the CA file of `--ca` / DABBA_CA: a PEM certificate, or a clear error. */
async function readCaFile(path: string, from: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CliError(
      `${from} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? 'error'}); the server writes its CA to DATA_DIR/ca.crt`,
      EXIT.USAGE,
    );
  }
  if (!text.includes('-----BEGIN CERTIFICATE-----'))
    throw new CliError(`${from} ${path} is not a PEM certificate (the server's DATA_DIR/ca.crt)`, EXIT.USAGE);
  return text;
}

export function buildProgram(outer: CliContext): Command {
  // Filled by the hook below from --ca / DABBA_CA before any command's action runs.
  const tls: ClientTls = {};
  const ctx: CliContext = { ...outer, tls, client: (addr, t) => outer.client(addr, t ?? tls) };
  const program = new Command('dabba')
    .description('Dabba: deploy, run and keep services healthy on a fleet of hosts')
    .version(CLI_VERSION)
    .option('--debug', 'show stack traces of errors')
    .option(
      '--ca <file>',
      "the cluster CA to verify https:// servers with (default $DABBA_CA; the server's DATA_DIR/ca.crt)",
    )
    .hook('preAction', async (cmd) => {
      const flag = cmd.opts<{ ca?: string }>().ca;
      const env = outer.env['DABBA_CA'];
      if (flag !== undefined) tls.ca = await readCaFile(flag, '--ca');
      else if (env !== undefined && env !== '') tls.ca = await readCaFile(env, 'DABBA_CA');
    })
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
  doctorCommand(program, ctx);
  versionCommand(program, ctx);
  scaleCommand(program, ctx);
  restartCommand(program, ctx);
  execCommand(program, ctx);
  describeCommand(program, ctx);
  completionCommand(program, ctx);
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
    if (e instanceof CommandExit) return e.code;
    const { message, exitCode } = describeError(e);
    // An empty message says nothing more is to be said (a follow ended by Ctrl-C: exit 130).
    if (message !== '') ctx.err.write(`error: ${message}\n`);
    if (debug && e instanceof Error && e.stack) ctx.err.write(`${e.stack}\n`);
    return exitCode;
  }
}
