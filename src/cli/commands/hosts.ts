import type { Command } from 'commander';
import type { HostView } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { cpu, formatSize, table } from '../output.ts';

/** dir, btrfs or btrfs+quota ("-": an agent that did not say). */
export function volumeKind(v: HostView['volumes']): string {
  if (v === undefined) return '-';
  return v.kind === 'directory' ? 'dir' : v.quota ? 'btrfs+quota' : 'btrfs';
}

export function hostsCommand(program: Command, ctx: CliContext): void {
  program
    .command('hosts')
    .description('list hosts with their state, task range, capacity and allocation')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const hosts = await ctx.client(opts.addr).hosts();
      if (opts.json) return ctx.out.write(JSON.stringify(hosts, null, 2) + '\n');
      if (hosts.length === 0)
        return ctx.out.write('no hosts registered (start an agent: dabba agent --server URL)\n');
      // The task range column only where hosts have one (oci): process-only fleets have none.
      const subnets = hosts.some((h) => h.subnet !== undefined);
      // Conditions the agents report (DiskFull, DiskPressure, DiskReadOnly): only when some host has one.
      const conditions = hosts.some((h) => (h.conditions?.length ?? 0) > 0);
      // The seccomp profile containers run under (oci): "distribution" (Podman's) or "built-in".
      const seccomp = hosts.some((h) => h.seccomp !== undefined);
      // How the agents make volumes (docs/volumes.md): dir, btrfs, btrfs+quota.
      const volumes = hosts.some((h) => h.volumes !== undefined);
      ctx.out.write(
        table(
          [
            'HOST',
            'STATE',
            'RUNTIME',
            ...(subnets ? ['SUBNET'] : []),
            ...(seccomp ? ['SECCOMP'] : []),
            ...(volumes ? ['VOLUMES'] : []),
            'TASKS',
            'CPU',
            'MEMORY',
            'LABELS',
            ...(conditions ? ['CONDITIONS'] : []),
          ],
          hosts.map((h) => [
            h.id,
            h.drain ?? h.state,
            h.runtime,
            ...(subnets ? [h.subnet ?? '-'] : []),
            ...(seccomp ? [h.seccomp?.split(' ')[0] ?? '-'] : []),
            ...(volumes ? [volumeKind(h.volumes)] : []),
            String(h.tasks),
            `${cpu(h.allocated.cpu)}/${cpu(h.capacity.cpu)}`,
            `${formatSize(h.allocated.memoryBytes)}/${formatSize(h.capacity.memoryBytes)}`,
            Object.entries(h.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(','),
            ...(conditions ? [h.conditions?.map((c) => c.type).join(',') || '-'] : []),
          ]),
        ),
      );
    });
}
