import type { Command } from 'commander';
import type { MetricsAgg, MetricsQueryResult, MetricsSeries } from '../../model/index.ts';
import type { CliContext } from '../context.ts';
import { table } from '../output.ts';

interface MetricsOptions {
  where: string[];
  by: string[];
  rate?: boolean;
  since: string;
  step?: string;
  agg?: string;
  over?: string;
  addr?: string;
  json?: boolean;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/**
 * `dabba metrics NAME [--where k=v]... [--by LABEL] [--rate] [--since DUR] [--step DUR] [--json]`:
 * a metric's series over a time range (the namespace's series; `--all-namespaces` also host-level ones).
 */
export function metricsCommand(program: Command, ctx: CliContext): void {
  program
    .command('metrics')
    .description(
      "a metric's values over time: per series, or aggregated by label (--all-namespaces: every namespace and the hosts' own)",
    )
    .argument('<name>', 'metric name, e.g. http_requests_total')
    .option('--where <k=v>', 'label matcher: k=v, k!=v, k=~regex, k!~regex (repeatable)', collect, [])
    .option('--by <label>', 'aggregate by this label (repeatable; default aggregation: sum)', collect, [])
    .option('--rate', 'per-second rate of a counter (resets handled)')
    .option('--since <duration>', 'how far back (e.g. 15m, 1h, 7d)', '1h')
    .option('--step <duration>', 'width of each point (default: at most 1,000 points)')
    .option('--agg <agg>', 'across series: sum, avg, max, min, count or pNN (e.g. p99)')
    .option('--over <over>', 'within a step, per series: avg (default), min, max, sum, count')
    .option('--addr <addr>', 'server address(es) (default $DABBA_ADDR)')
    .option('--json', 'machine-readable output')
    .action(async (name: string, opts: MetricsOptions) => {
      const r = await ctx.client(opts.addr).queryMetrics({
        name,
        where: opts.where,
        by: opts.by,
        since: opts.since,
        ...(opts.rate === true ? { rate: true } : {}),
        ...(opts.step === undefined ? {} : { step: opts.step }),
        ...(opts.agg === undefined ? {} : { agg: opts.agg as MetricsAgg }),
        ...(opts.over === undefined ? {} : { over: opts.over as 'avg' }),
      });
      if (opts.json) return ctx.out.write(JSON.stringify(r, null, 2) + '\n');
      for (const m of r.missing ?? []) {
        ctx.err.write(`warning: a server replica gave no share, its points are left out: ${m}\n`);
      }
      for (const c of r.fromCopies ?? []) {
        ctx.err.write(`note: a server replica did not answer, its points come from its copies: ${c}\n`);
      }
      ctx.out.write(render(r));
    });
}

/** Labels that tell the series apart (all of them when there is one series). */
function seriesNames(series: readonly MetricsSeries[]): string[] {
  const keys = new Set<string>();
  for (const s of series) for (const k of Object.keys(s.labels)) if (k !== '__name__') keys.add(k);
  const differ = [...keys].filter((k) => new Set(series.map((s) => s.labels[k] ?? '')).size > 1);
  const shown = series.length > 1 ? differ : [...keys];
  return series.map((s) => shown.map((k) => `${k}=${s.labels[k] ?? ''}`).join(',') || 'value');
}

function num(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '-';
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(3) : v.toPrecision(3);
}

function time(t: number, step: number): string {
  const iso = new Date(t).toISOString();
  return step % 60_000 === 0 ? iso.slice(0, 16).replace('T', ' ') : iso.slice(0, 19).replace('T', ' ');
}

/** A time-major table for a few series and points, else one summary row per series. */
export function render(r: MetricsQueryResult): string {
  const what = `${r.name}${r.rate ? ' (rate, per second)' : ''}${r.agg === null ? '' : ` ${r.agg}${r.by.length > 0 ? ` by ${r.by.join(',')}` : ''}`}`;
  if (r.series.length === 0) return `no data for ${what} in this range and namespace\n`;
  const names = seriesNames(r.series);
  const times = [...new Set(r.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const head = `${what}, step ${r.step / 1000}s, ${time(r.start, r.step)} .. ${time(r.end, r.step)} UTC\n`;
  if (r.series.length <= 5 && times.length <= 60) {
    const byT = r.series.map((s) => new Map(s.points));
    return (
      head +
      table(
        ['TIME', ...names],
        times.map((t) => [time(t, r.step), ...byT.map((m) => num(m.get(t)))]),
      )
    );
  }
  return (
    head +
    table(
      ['SERIES', 'LAST', 'MIN', 'AVG', 'MAX', 'POINTS'],
      r.series.map((s, i) => {
        const vs = s.points.map((p) => p[1]);
        const avg = vs.reduce((a, b) => a + b, 0) / vs.length;
        return [
          names[i] ?? '',
          num(vs.at(-1)),
          num(Math.min(...vs)),
          num(avg),
          num(Math.max(...vs)),
          String(vs.length),
        ];
      }),
    )
  );
}
