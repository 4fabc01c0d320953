import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { table } from '../output.ts';

/** `dabba services [NAME] [--json]`: the namespace's services, or one service's endpoints. */
export function servicesCommand(program: Command, ctx: CliContext): void {
  program
    .command('services')
    .description("list services and how many endpoints each has, or one service's endpoints")
    .argument('[name]', 'service (job) name: list its endpoints (running, ready tasks)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (name: string | undefined, opts: { addr?: string; json?: boolean }) => {
      const client = ctx.client(opts.addr);
      if (name === undefined) {
        const services = await client.services();
        if (opts.json) return ctx.out.write(JSON.stringify(services, null, 2) + '\n');
        if (services.length === 0) return ctx.out.write('no services (deploy a job: dabba deploy FILE)\n');
        ctx.out.write(
          table(
            ['SERVICE', 'NAMESPACE', 'READY', 'PORTS'],
            services.map((s) => [
              s.service,
              s.namespace,
              `${String(s.ready)}/${String(s.replicas)}`,
              s.ports.join(',') || '-',
            ]),
          ),
        );
        return;
      }
      const e = await client.serviceEndpoints(name);
      if (opts.json) return ctx.out.write(JSON.stringify(e, null, 2) + '\n');
      if (e.endpoints.length === 0) return ctx.out.write(`service ${name} has no ready endpoints\n`);
      ctx.out.write(
        table(
          ['TASK', 'HOST', 'ADDRESS', 'PORTS', 'VERSION'],
          e.endpoints.map((x) => [
            x.task,
            x.host,
            x.address,
            Object.entries(x.ports)
              .map(([k, v]) => `${k}=${String(v)}`)
              .join(',') || '-',
            String(x.version),
          ]),
        ),
      );
    });
}
