/** The `dabba` command, loaded by its entry point (dabba.ts) once the compile cache is on. */
import { runCli, type Daemons, type DevProbe } from '../cli/index.ts';
import { DabbaClient } from '../client/index.ts';

// The daemons bring the server, the agent, the stores and the runtimes: loaded only by the commands
// that start one, so every other command starts in about half the time.
const load = async (): Promise<Daemons> => (await import('./daemons.ts')).daemons;
// `dabba doctor` alone probes the machine the way `dabba dev` would (the runtimes' detection).
const probeDev = async (): Promise<DevProbe> => (await import('./dev-probe.ts')).probeDev();
const daemons: Daemons = {
  dev: async (o, signal) => (await load()).dev(o, signal),
  server: async (o, signal) => (await load()).server(o, signal),
  agent: async (o, signal) => (await load()).agent(o, signal),
};

const controller = new AbortController();
let interrupts = 0;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    controller.abort();
  });
}

// Output cut short (`dabba status | head -3`): end quietly, as a Unix tool killed by SIGPIPE would
// (exit 141), instead of dying on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(141);
    throw e;
  });
}

const DEFAULT_ADDR = 'http://127.0.0.1:7070';

const code = await runCli(process.argv.slice(2), {
  out: { write: (s) => void process.stdout.write(s), isTTY: Boolean(process.stdout.isTTY) },
  err: { write: (s) => void process.stderr.write(s), isTTY: Boolean(process.stderr.isTTY) },
  env: process.env,
  daemons,
  probeDev,
  stdio: { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
  signal: controller.signal,
  client: (addr, o) =>
    new DabbaClient({ addr: addr ?? process.env['DABBA_ADDR'] ?? DEFAULT_ADDR, ...(o ?? {}) }),
});
process.exitCode = code;
