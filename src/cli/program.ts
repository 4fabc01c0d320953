import { Command, CommanderError, type Option } from 'commander';
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
import { configCommand } from './commands/config.ts';
import { rollbackCommands } from './commands/rollback.ts';
import { logsCommand } from './commands/logs.ts';
import { planCommand } from './commands/plan.ts';
import { serversCommand } from './commands/servers.ts';
import { poolCommand } from './commands/pool.ts';
import { statusCommand } from './commands/status.ts';
import { stopCommand } from './commands/stop.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { EXIT } from './exit-codes.ts';
import { credentialsPath, readCredentials, type CredentialsFile } from './credentials.ts';
import { accessCommands } from './commands/access.ts';
import { auditCommand } from './commands/audit.ts';
import { metricsCommand } from './commands/metrics.ts';
import { tableCommand } from './commands/table.ts';
import { servicesCommand } from './commands/services.ts';
import { meshCommand } from './commands/mesh.ts';
import { remediationCommand } from './commands/remediation.ts';

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

/**
 * The context commands see: its client carries the token (`--token` > `DABBA_TOKEN` > the stored
 * credentials of the address), the namespace (`-n`, `--all-namespaces`: `*`) and the CA (`--ca` >
 * `DABBA_CA` > the one `dabba login` stored for the address).
 */
function withCredentials(
  outer: CliContext,
  program: Command,
  tls: ClientTls,
): { ctx: CliContext; load: () => Promise<void> } {
  let stored: CredentialsFile = { servers: {} };
  const wrapped: CliContext = {
    ...outer,
    tls,
    client: (addr, o) => {
      const addrs = outer.client(addr).addrs;
      const saved = addrs.map((a) => stored.servers[a]).find((c) => c !== undefined);
      const g = program.opts<GlobalOptions>();
      const token = o?.token ?? g.token ?? (outer.env['DABBA_TOKEN'] || undefined) ?? saved?.token;
      const namespace = o?.namespace ?? (g.allNamespaces ? '*' : g.namespace.at(-1));
      const ca = o?.ca ?? tls.ca ?? saved?.ca;
      return outer.client(addr, {
        ...(o?.cert === undefined ? {} : { cert: o.cert }),
        ...(o?.key === undefined ? {} : { key: o.key }),
        ...(ca === undefined ? {} : { ca }),
        ...(token === undefined || token === '' ? {} : { token }),
        ...(namespace === undefined ? {} : { namespace }),
      });
    },
  };
  return {
    ctx: wrapped,
    load: async () => {
      // Read only when something may come from it: the token, or the CA.
      const g = program.opts<GlobalOptions>();
      const hasToken = g.token !== undefined || Boolean(outer.env['DABBA_TOKEN']);
      if (!hasToken || tls.ca === undefined) stored = await readCredentials(credentialsPath(outer.env));
    },
  };
}

/** Commands that use no API client with the stored credentials: the server and the agent daemons. */
const STARTS_NO_CLIENT = new Set(['server', 'agent']);

export function buildProgram(outer: CliContext): Command {
  // Filled by the hook below from --ca / DABBA_CA before any command's action runs.
  const tls: ClientTls = {};
  const program = new Command('dabba');
  const { ctx, load } = withCredentials(outer, program, tls);
  program
    .description('Dabba: deploy, run and keep services healthy on a fleet of hosts')
    .version(CLI_VERSION)
    .option('--debug', 'show stack traces of errors')
    .option('--token <token>', 'API token (default $DABBA_TOKEN, else the credentials `dabba login` stored)')
    .option(
      '-n, --namespace <ns>',
      'namespace of the jobs and tasks (default "default"); repeatable for `token create`',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--all-namespaces', 'lists: every namespace the token covers')
    .option(
      '--ca <file>',
      "the cluster CA to verify https:// servers with (default $DABBA_CA; the server's DATA_DIR/ca.crt)",
    )
    .hook('preAction', async (cmd, action) => {
      const flag = cmd.opts<{ ca?: string }>().ca;
      const env = outer.env['DABBA_CA'];
      if (flag !== undefined) tls.ca = await readCaFile(flag, '--ca');
      else if (env !== undefined && env !== '') tls.ca = await readCaFile(env, 'DABBA_CA');
      // A server or an agent calls no server with a user's token: the CLI's stored credentials
      // (perhaps another user's, unreadable) are none of its business.
      if (!STARTS_NO_CLIENT.has(action.name())) await load();
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
  configCommand(program, ctx);
  serversCommand(program, ctx);
  poolCommand(program, ctx);
  accessCommands(program, ctx);
  auditCommand(program, ctx);
  metricsCommand(program, ctx);
  tableCommand(program, ctx);
  servicesCommand(program, ctx);
  meshCommand(program, ctx);
  remediationCommand(program, ctx);
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

/**
 * `--version` after a command's name belongs to that command (`dabba config get PATH --version N`):
 * the program's own `--version` (print the CLI's version) counts only before any command name.
 */
function yieldVersionFlag(program: Command, argv: string[]): void {
  const names = new Set(program.commands.flatMap((c) => [c.name(), ...c.aliases()]));
  const first = argv.findIndex((a) => names.has(a));
  if (first < 0 || !argv.slice(first).some((a) => a === '--version' || a.startsWith('--version='))) return;
  const options = program.options as Option[];
  const at = options.findIndex((o) => o.long === '--version');
  if (at >= 0) options.splice(at, 1);
}

/** Runs the CLI; returns the exit code. Errors print as one message (a stack only with --debug). */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  const program = buildProgram(ctx);
  yieldVersionFlag(program, argv);
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
