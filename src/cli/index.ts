export { runCli, buildProgram } from './program.ts';
export type {
  CliContext,
  Daemon,
  Daemons,
  DevProbe,
  DevOptions,
  ServerDaemonOptions,
  AgentDaemonOptions,
} from './context.ts';
export { EXIT } from './exit-codes.ts';
