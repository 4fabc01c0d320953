/** The long-running commands: `dabba dev`, `dabba server` and `dabba agent`, one file each. */
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { agentCommand } from './daemon-agent.ts';
import { devCommand } from './daemon-dev.ts';
import { serverCommand } from './daemon-server.ts';

export { DEFAULT_LISTEN, parseListen } from './daemon-flags.ts';

export function daemonCommands(program: Command, ctx: CliContext): void {
  devCommand(program, ctx);
  serverCommand(program, ctx);
  agentCommand(program, ctx);
}
