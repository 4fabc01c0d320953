import type { Command } from 'commander';
import { CliError, CommandExit } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

export function execCommand(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description(
      "run a command in a task: in its container's namespaces and cgroup (oci), or with its environment and working directory (process); exits with the command's exit code",
    )
    .usage('[options] TASK -- COMMAND [ARG...]')
    .argument('<task>', 'task id (see dabba status JOB)')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-i, --stdin', 'pass stdin to the command (interactive; not supported yet)')
    .option('-t, --tty', 'give the command a terminal (interactive; not supported yet)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(
      async (task: string, command: string[], opts: { stdin?: boolean; tty?: boolean; addr?: string }) => {
        if (opts.stdin || opts.tty) {
          throw new CliError(
            'dabba exec: -i/-t (interactive, with a terminal) is not supported yet; run a command without them, e.g. dabba exec TASK -- cat /etc/hostname',
            EXIT.USAGE,
          );
        }
        const client = ctx.client(opts.addr);
        const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
        try {
          for await (const m of client.exec(task, command, ctx.signal)) {
            if ('exit' in m) throw new CommandExit(m.exit);
            (m.stream === 'stderr' ? ctx.err : ctx.out).write(
              decoders[m.stream].decode(m.data, { stream: true }),
            );
          }
        } catch (e) {
          // Ctrl-C: the server and agent see the connection go and kill the command.
          if (ctx.signal.aborted && !(e instanceof CommandExit)) throw new CommandExit(EXIT.INTERRUPTED);
          throw e;
        }
      },
    );
}
