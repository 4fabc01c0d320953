/**
 * `dabba host history HOST --at TIME [--prev|--next] [--top N] [--json]`: the host as it was then,
 * atop style: CPU, memory, disk, network and pressure over the interval, then its processes, busiest
 * first, with the task each belongs to. The previous and next snapshots are one flag away.
 */
import type { Command } from 'commander';
import type { HistoryStep, HostHistorySnapshot } from '../../model/index.ts';
import { parseHistoryTime } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { formatSize, table } from '../output.ts';

const rate = (bytesPerSec: number): string => `${formatSize(bytesPerSec)}/s`;
const iso = (ms: number): string => new Date(ms).toISOString();

export function renderSnapshot(s: HostHistorySnapshot, top: number): string {
  const lines: string[] = [];
  lines.push(`host ${s.host} at ${iso(s.time)} (over the ${(s.intervalMs / 1000).toFixed(1)}s before)`);
  const around = [
    s.prev === undefined ? 'no earlier snapshot' : `previous ${iso(s.prev)} (--prev)`,
    s.next === undefined ? 'no later snapshot' : `next ${iso(s.next)} (--next)`,
  ];
  lines.push(around.join('   '));
  const c = s.cpu;
  lines.push(
    `CPU  busy ${c.busyPercent}% of ${c.cpus} cpus  user ${c.userPercent}%  sys ${c.systemPercent}%  iowait ${c.iowaitPercent}%  steal ${c.stealPercent}%   load ${s.load.join(' ')}`,
  );
  const m = s.memory;
  lines.push(
    `MEM  used ${formatSize(m.usedBytes)} of ${formatSize(m.totalBytes)}  available ${formatSize(m.availableBytes)}  cache ${formatSize(m.cachedBytes)}  swap used ${formatSize(m.swapUsedBytes)}`,
  );
  const p = s.pressure;
  lines.push(
    `DSK  read ${rate(s.disk.readBytesPerSec)}  write ${rate(s.disk.writeBytesPerSec)}   NET  rx ${rate(s.net.rxBytesPerSec)}  tx ${rate(s.net.txBytesPerSec)}` +
      (p ? `   PSI  cpu ${p.cpu}%  mem ${p.memory}%  io ${p.io}%` : ''),
  );
  lines.push('');
  const shown = s.processes.slice(0, top);
  lines.push(
    table(
      ['PID', 'PPID', 'S', 'CPU%', 'RSS', 'READ', 'WRITE', 'TASK', 'COMMAND'],
      shown.map((x) => [
        String(x.pid),
        String(x.ppid),
        x.state,
        x.cpuPercent.toFixed(1),
        formatSize(x.rssBytes),
        rate(x.readBytesPerSec),
        rate(x.writeBytesPerSec),
        x.task === undefined
          ? '-'
          : `${x.task}${x.namespace !== undefined && x.namespace !== 'default' ? ` (${x.namespace})` : ''}`,
        x.command.length > 100 ? `${x.command.slice(0, 99)}…` : x.command,
      ]),
    ).trimEnd(),
  );
  if (s.processes.length > shown.length)
    lines.push(`... ${s.processes.length - shown.length} more processes (--top N, or --json for all)`);
  return `${lines.join('\n')}\n`;
}

interface Opts {
  at: string;
  prev?: boolean;
  next?: boolean;
  top: string;
  json?: boolean;
  addr?: string;
}

export function hostHistoryCommand(host: Command, ctx: CliContext): void {
  host
    .command('history')
    .description(
      'the host as it was at a moment (atop style): CPU, memory, I/O, and its processes, busiest first',
    )
    .argument('<host>', 'host id (see dabba hosts)')
    .requiredOption(
      '--at <time>',
      'when: ISO-8601 (2026-01-02T15:04:05Z), epoch ms, now, or relative (-30s, -1h)',
    )
    .option('--prev', 'the snapshot just before the one nearest --at')
    .option('--next', 'the snapshot just after the one nearest --at')
    .option('--top <n>', 'how many processes to show', '25')
    .option('--json', 'machine-readable output (every process)')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .action(async (id: string, opts: Opts) => {
      if (opts.prev && opts.next) throw new CliError('give --prev or --next, not both', EXIT.USAGE);
      const at = parseHistoryTime(opts.at, Date.now());
      if (!at.ok) throw new CliError(`--at ${at.error}`, EXIT.USAGE);
      const top = Number(opts.top);
      if (!Number.isInteger(top) || top < 1)
        throw new CliError(`--top "${opts.top}" is not a positive whole number`, EXIT.USAGE);
      const step: HistoryStep = opts.prev ? 'prev' : opts.next ? 'next' : 'nearest';
      // A relative time is taken on this machine's clock: the server gets the absolute time.
      const s = await ctx.client(opts.addr).hostHistory(id, String(at.ms), step);
      ctx.out.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : renderSnapshot(s, top));
    });
}
