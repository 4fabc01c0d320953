import type { Command } from 'commander';
import type { ServersView } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { ago, table } from '../output.ts';

/** 0,1,2,5,7,8 -> "0-2,5,7-8". */
export function shardRanges(shards: readonly number[]): string {
  const sorted = [...shards].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === (sorted[j] ?? 0) + 1) j++;
    parts.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',') || '-';
}

export function formatServers(v: ServersView, now = Date.now()): string {
  const rows = v.replicas.map((r) => [
    r.self ? `${r.id} (this)` : r.id,
    r.url,
    String(r.shards.length),
    shardRanges(r.shards),
    r.broker ? 'yes' : '',
    ago(r.since, now),
  ]);
  let text =
    v.replicas.length === 0
      ? 'no replica registered\n'
      : table(['REPLICA', 'URL', 'COUNT', 'SHARDS', 'BROKER', 'UP'], rows);
  text +=
    v.unowned.length === 0
      ? `shards: ${v.shards}, all owned\n`
      : `shards: ${v.shards}, unowned (moving): ${shardRanges(v.unowned)}\n`;
  if (v.broker === null) text += 'broker: nobody (moving)\n';
  text += v.store.ok
    ? `store: ${v.store.name} ok, revision ${v.store.revision}\n`
    : `store: ${v.store.name} NOT ANSWERING: ${v.store.error ?? 'unknown error'} (replicas as last seen)\n`;
  return text;
}

export function serversCommand(program: Command, ctx: CliContext): void {
  program
    .command('servers')
    .description('list the control-plane replicas, the shards each owns and the store health')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { addr?: string; json?: boolean }) => {
      const v = await ctx.client(opts.addr).servers();
      ctx.out.write(opts.json ? JSON.stringify(v, null, 2) + '\n' : formatServers(v));
    });
}
