/** `dabba mesh stats [SERVICE] [--json]`: what every host's proxy counted, added up. */
import type { Command } from 'commander';
import { latencyQuantile, type MeshStatsRow, type MeshStatsView } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { table } from '../output.ts';

const latency = (r: MeshStatsRow, q: number): string => {
  const v = latencyQuantile(r.latency, q);
  return v === undefined ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v).toString()}ms`;
};

function row(r: MeshStatsRow): string[] {
  return [
    r.caller,
    r.upstream,
    r.task === undefined
      ? '*'
      : `${r.task}${r.state !== undefined && r.state !== 'up' ? ` (${r.state})` : ''}`,
    String(r.requests),
    String(r.responses['2xx']),
    String(r.responses['4xx']),
    String(r.responses['5xx']),
    String(r.retries + r.redispatches),
    String(r.timeouts),
    String(r.queueTimeouts),
    String(r.ejections),
    String(r.connections),
    String(r.queued),
    latency(r, 0.5),
    latency(r, 0.99),
  ];
}

/** Each upstream's row (TASK `*`) followed by its tasks' rows. */
export function formatMeshStats(v: MeshStatsView): string {
  const rows: string[][] = [];
  for (const u of v.upstreams) {
    rows.push(row(u));
    for (const t of v.tasks) if (t.caller === u.caller && t.upstream === u.upstream) rows.push(row(t));
  }
  let out =
    rows.length === 0
      ? `no mesh traffic counted${v.service === undefined ? '' : ` for ${v.service}`}\n`
      : table(
          [
            'CALLER',
            'UPSTREAM',
            'TASK',
            'REQUESTS',
            '2XX',
            '4XX',
            '5XX',
            'RETRIES',
            'TIMEOUTS',
            'QUEUE-TIMEOUTS',
            'EJECTIONS',
            'CONNS',
            'QUEUED',
            'P50',
            'P99',
          ],
          rows,
        );
  for (const d of v.denied ?? [])
    out += `403 ${d.caller} -> ${d.upstream} (${d.side === 'inbound' ? "refused by the upstream host's inbound side" : "refused by the caller's proxy"}): ${String(d.count)}\n`;
  for (const h of v.hosts) if (!h.ok) out += `host ${h.host}: not counted (${h.error ?? 'no answer'})\n`;
  return out;
}

export function meshStatsCommand(mesh: Command, ctx: CliContext): void {
  mesh
    .command('stats')
    .description(
      "per caller, upstream and task: requests, responses, retries, timeouts, queue timeouts, ejections, connections, latency (every host's proxy)",
    )
    .argument('[service]', 'only where this service is the caller or the upstream')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (service: string | undefined, opts: { addr?: string; json?: boolean }) => {
      const v = await ctx.client(opts.addr).meshStats(service);
      if (opts.json) return ctx.out.write(JSON.stringify(v, null, 2) + '\n');
      ctx.out.write(formatMeshStats(v));
    });
}
