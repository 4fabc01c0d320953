/**
 * A log-table query as the page holds it and as the address carries it
 * (`#/tables?table=T&where=...&by=...&agg=...&since=1h&bucket=1m`), so a query can be shared; and
 * its result turned into chart lines (one per group, the first aggregate over the buckets).
 */
import type { TableQuery } from '../../../src/client/browser.ts';
import type { LogTableQueryResult } from '../../../src/model/log-table.ts';
import type { LineSeries } from '../components/chart-types.ts';

export interface TableQueryState {
  table: string;
  where: string[];
  by: string[];
  agg: string[];
  since: string;
  bucket: string;
}

export function fromSearch(q: URLSearchParams): TableQueryState {
  return {
    table: q.get('table') ?? '',
    where: q.getAll('where'),
    by: q.getAll('by'),
    agg: q.getAll('agg'),
    since: q.get('since') ?? '1h',
    bucket: q.get('bucket') ?? '',
  };
}

export function toHash(s: TableQueryState): string {
  const q = new URLSearchParams({ table: s.table });
  for (const w of s.where) q.append('where', w);
  for (const b of s.by) q.append('by', b);
  for (const a of s.agg) q.append('agg', a);
  if (s.since !== '') q.set('since', s.since);
  if (s.bucket !== '') q.set('bucket', s.bucket);
  return `#/tables?${q.toString()}`;
}

export function apiQuery(s: TableQueryState): TableQuery {
  return {
    ...(s.where.length ? { where: s.where } : {}),
    ...(s.by.length ? { by: s.by } : {}),
    ...(s.agg.length ? { agg: s.agg.join(',') } : {}),
    ...(s.since !== '' ? { since: s.since } : {}),
    ...(s.bucket !== '' ? { bucket: s.bucket } : {}),
  };
}

const when = (v: unknown): number => (typeof v === 'number' ? v : Date.parse(String(v)));

/** With buckets: one line per group (the group columns' values), of the first aggregate's column. */
export function chartLines(s: TableQueryState, r: LogTableQueryResult): LineSeries[] {
  if (s.bucket === '' || !r.columns.includes('bucket')) return [];
  const value = r.columns.find((c) => c !== 'bucket' && !s.by.includes(c));
  if (value === undefined) return [];
  const lines = new Map<string, [number, number][]>();
  for (const row of r.rows) {
    const t = when(row['bucket']);
    const v = Number(row[value]);
    if (!Number.isFinite(t) || !Number.isFinite(v)) continue;
    const name = s.by.length === 0 ? value : s.by.map((b) => `${b}=${String(row[b])}`).join(' ');
    lines.set(name, [...(lines.get(name) ?? []), [t, v]]);
  }
  return [...lines.entries()].slice(0, 8).map(([name, points]) => ({ name, points }));
}
