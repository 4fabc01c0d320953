/**
 * The query language of log tables and its translation to SQL. User input never becomes SQL text:
 * column names are checked against the table's discovered columns (and then quoted), operators and
 * aggregate functions come from fixed lists, and every value (filter values, regexes, times,
 * bucket widths, limits, quantiles) is a bound parameter.
 *
 *   where:  COL=V  COL!=V  COL>N  COL>=N  COL<N  COL<=N  COL~REGEX  COL!~REGEX   (several: all hold)
 *   by:     COL...
 *   agg:    count, sum(COL), avg(COL), min(COL), max(COL), pNN(COL) (quantile, e.g. p99, p99.9)
 *   since:  a duration (30s, 15m, 1h, 7d): rows newer than now minus it
 *   bucket: a duration: rows grouped by time bucket too (a `bucket` column, oldest first)
 */
import { DabbaError } from '../../errors/index.ts';
import { parseDuration } from '../../lib/index.ts';
import type { LogColumnType } from '../../model/index.ts';
import { NAMESPACE, TIME, WEIGHT, columnNameOf, quoteIdent, timeOf } from './columns.ts';

export type WhereOp = '=' | '!=' | '>' | '>=' | '<' | '<=' | '~' | '!~';
export interface WhereTerm {
  column: string;
  op: WhereOp;
  value: string;
}
export type AggFn = 'count' | 'sum' | 'avg' | 'min' | 'max' | 'quantile';
export interface Agg {
  fn: AggFn;
  column?: string;
  /** For quantiles: 0 < q < 1. */
  q?: number;
  /** How it is named in results: `count`, `sum(bytes)`, `p99(latency_ms)`. */
  label: string;
}

export interface QuerySpec {
  where?: readonly string[];
  by?: readonly string[];
  /** Comma-separated: `count,p99(latency_ms)`. */
  agg?: string;
  since?: string;
  bucket?: string;
  limit?: number;
}

export interface ParsedQuery {
  where: WhereTerm[];
  by: string[];
  aggs: Agg[];
  sinceMs?: number;
  bucketMs?: number;
  limit: number;
  /** No group-by, aggregate or bucket: the newest rows themselves. */
  raw: boolean;
}

export const MAX_LIMIT = 10_000;
const OPS: readonly WhereOp[] = ['!=', '>=', '<=', '!~', '=', '>', '<', '~'];
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function bad(message: string, details: Record<string, unknown> = {}): DabbaError {
  return new DabbaError('DABBA_E_VALIDATION', message, { details });
}

/** `COL OP VALUE`; a value in double quotes keeps its spaces ("a b"). */
export function parseWhere(text: string): WhereTerm {
  const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*/.exec(text);
  if (!m?.[1])
    throw bad(
      `--where "${text}": expected COLUMN then an operator (=, !=, >, >=, <, <=, ~, !~) and a value`,
      {
        where: text,
      },
    );
  const rest = text.slice(m[0].length);
  const op = OPS.find((o) => rest.startsWith(o));
  if (op === undefined)
    throw bad(`--where "${text}": after the column, expected one of = != > >= < <= ~ !~`, { where: text });
  let value = rest.slice(op.length).trim();
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
  return { column: m[1], op, value };
}

function parseDurationWithDays(text: string, what: string): number {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(text.trim());
  if (days?.[1] !== undefined) return Math.round(Number(days[1]) * 86_400_000);
  const d = parseDuration(text);
  if (!d.ok) throw bad(`${what}: ${d.error} (or days: 7d)`, { [what]: text });
  return d.ms;
}

export function parseAggs(text: string): Agg[] {
  const out: Agg[] = [];
  for (const part of text.split(',')) {
    const s = part.trim();
    if (s === '') continue;
    if (s === 'count') {
      out.push({ fn: 'count', label: 'count' });
      continue;
    }
    const m = /^(sum|avg|min|max|p(\d{1,2}(?:\.\d{1,3})?))\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)$/.exec(s);
    if (!m?.[1] || !m[3])
      throw bad(
        `--agg "${s}": expected count, sum(COL), avg(COL), min(COL), max(COL) or pNN(COL) (p50, p99, p99.9)`,
        {
          agg: s,
        },
      );
    const q = m[2] === undefined ? undefined : Number((Number(m[2]) / 100).toFixed(8));
    if (q !== undefined && !(q > 0 && q < 1)) throw bad(`--agg "${s}": a percentile is from p1 to p99.999`);
    out.push({
      fn: q === undefined ? (m[1] as AggFn) : 'quantile',
      column: m[3],
      ...(q === undefined ? {} : { q }),
      label: `${m[1]}(${m[3]})`,
    });
  }
  return out;
}

export function parseQuery(spec: QuerySpec): ParsedQuery {
  const where = (spec.where ?? []).map(parseWhere);
  const by = (spec.by ?? [])
    .flatMap((b) => b.split(','))
    .map((b) => b.trim())
    .filter((b) => b !== '');
  for (const b of by) if (!IDENT.test(b)) throw bad(`--by "${b}" is not a column name`, { by: b });
  const aggs = parseAggs(spec.agg ?? '');
  const sinceMs = spec.since === undefined ? undefined : parseDurationWithDays(spec.since, 'since');
  const bucketMs = spec.bucket === undefined ? undefined : parseDurationWithDays(spec.bucket, 'bucket');
  if (bucketMs !== undefined && bucketMs < 1) throw bad('bucket must be at least 1ms');
  const raw = by.length === 0 && aggs.length === 0 && bucketMs === undefined;
  const limit = spec.limit ?? (raw ? 100 : 1000);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw bad(`limit must be an integer from 1 to ${MAX_LIMIT}`, { limit });
  return {
    where,
    by,
    aggs: raw || aggs.length > 0 ? aggs : [{ fn: 'count', label: 'count' }],
    ...(sinceMs === undefined ? {} : { sinceMs }),
    ...(bucketMs === undefined ? {} : { bucketMs }),
    limit,
    raw,
  };
}

export interface SqlContext {
  table: string;
  columns: ReadonlyMap<string, LogColumnType>;
  /** Rows of this namespace only (undefined: every namespace). */
  namespace?: string;
  /** Also rows that belong to no namespace (cluster-wide events: hosts, images). */
  clusterRows?: boolean;
  /** Counts and sums are weighted by `_weight` (the table is or was sampled). */
  weighted: boolean;
  now: number;
}

export interface BuiltSql {
  sql: string;
  params: Record<string, string | number | boolean>;
  columns: string[];
}

/** The column a name given by the user refers to, checked against the table's columns. */
function column(ctx: SqlContext, name: string, where: string): { name: string; type: LogColumnType } {
  const c = columnNameOf(name);
  const type = c === undefined || c === WEIGHT ? undefined : ctx.columns.get(c);
  if (c === undefined || type === undefined) {
    const known = [...ctx.columns.keys()].filter((k) => k !== WEIGHT);
    throw new DabbaError(
      'DABBA_E_VALIDATION',
      `${where}: table ${ctx.table} has no column "${name}" (columns: ${known.join(', ')})`,
      { details: { column: name, columns: known } },
    );
  }
  return { name: c, type };
}

function isNumeric(t: LogColumnType): boolean {
  return t === 'BIGINT' || t === 'DOUBLE';
}

class Params {
  readonly values: Record<string, string | number | boolean> = {};
  #n = 0;
  add(v: string | number | boolean): string {
    const name = `p${this.#n++}`;
    this.values[name] = v;
    return `$${name}`;
  }
}

function whereSql(ctx: SqlContext, t: WhereTerm, p: Params): string {
  const where = `--where ${t.column}${t.op}${t.value}`;
  const c = column(ctx, t.column, where);
  const col = quoteIdent(c.name);
  if (t.op === '~' || t.op === '!~') {
    const text = c.type === 'VARCHAR' ? col : `CAST(${col} AS VARCHAR)`;
    const m = `regexp_matches(${text}, ${p.add(t.value)})`;
    return t.op === '~' ? `coalesce(${m}, false)` : `NOT coalesce(${m}, false)`;
  }
  let value: string;
  if (c.type === 'TIMESTAMP_MS') {
    const ms = timeOf(/^\d+$/.test(t.value) ? Number(t.value) : t.value);
    if (ms === undefined) throw bad(`${where}: expected a time (ISO-8601 or epoch ms)`);
    value = `epoch_ms(${p.add(ms)})`;
  } else if (isNumeric(c.type)) {
    const n = Number(t.value);
    if (t.value === '' || !Number.isFinite(n))
      throw bad(`${where}: column ${c.name} holds numbers; "${t.value}" is not one`, { column: c.name });
    value = p.add(n);
  } else if (c.type === 'BOOLEAN') {
    if (t.value !== 'true' && t.value !== 'false')
      throw bad(`${where}: column ${c.name} holds true/false`, { column: c.name });
    if (t.op !== '=' && t.op !== '!=') throw bad(`${where}: only = and != apply to true/false`);
    value = p.add(t.value === 'true');
  } else value = p.add(t.value);
  if (t.op === '!=') return `${col} IS DISTINCT FROM ${value}`;
  return `${col} ${t.op} ${value}`;
}

function aggSql(ctx: SqlContext, a: Agg, p: Params): string {
  if (a.fn === 'count') return ctx.weighted ? `sum(${quoteIdent(WEIGHT)})` : 'count(*)';
  const c = column(ctx, a.column ?? '', `--agg ${a.label}`);
  const col = quoteIdent(c.name);
  const w = quoteIdent(WEIGHT);
  if (a.fn === 'min' || a.fn === 'max') return `${a.fn}(${col})`;
  if (!isNumeric(c.type))
    throw bad(`--agg ${a.label}: column ${c.name} holds ${c.type}, not numbers`, { column: c.name });
  if (a.fn === 'sum') return ctx.weighted ? `sum(${col} * ${w})` : `sum(${col})`;
  if (a.fn === 'avg')
    return ctx.weighted
      ? `sum(${col} * ${w}) / nullif(sum(CASE WHEN ${col} IS NOT NULL THEN ${w} END), 0)`
      : `avg(${col})`;
  return `quantile_cont(${col}, ${p.add(a.q ?? 0.5)})`;
}

/** The SQL of a parsed query on a table with these columns. */
export function buildSql(ctx: SqlContext, q: ParsedQuery): BuiltSql {
  const p = new Params();
  const conds: string[] = [];
  if (ctx.namespace !== undefined) {
    const ns = p.add(ctx.namespace);
    conds.push(
      ctx.clusterRows
        ? `(${quoteIdent(NAMESPACE)} = ${ns} OR ${quoteIdent(NAMESPACE)} = '')`
        : `${quoteIdent(NAMESPACE)} = ${ns}`,
    );
  }
  if (q.sinceMs !== undefined) conds.push(`${quoteIdent(TIME)} >= epoch_ms(${p.add(ctx.now - q.sinceMs)})`);
  for (const t of q.where) conds.push(whereSql(ctx, t, p));
  const whereText = conds.length === 0 ? '' : ` WHERE ${conds.join(' AND ')}`;
  const from = ` FROM ${quoteIdent(ctx.table)}`;
  if (q.raw) {
    const cols = [...ctx.columns.keys()].filter((c) => c !== WEIGHT);
    const sql = `SELECT ${cols.map(quoteIdent).join(', ')}${from}${whereText} ORDER BY ${quoteIdent(TIME)} DESC LIMIT ${p.add(q.limit)}`;
    return { sql, params: p.values, columns: cols };
  }
  const select: string[] = [];
  const group: string[] = [];
  const names: string[] = [];
  if (q.bucketMs !== undefined) {
    select.push(`time_bucket(to_milliseconds(${p.add(q.bucketMs)}), ${quoteIdent(TIME)}) AS "bucket"`);
    group.push('"bucket"');
    names.push('bucket');
  }
  for (const b of q.by) {
    const c = column(ctx, b, `--by ${b}`);
    if (names.includes(c.name)) continue;
    select.push(quoteIdent(c.name));
    group.push(quoteIdent(c.name));
    names.push(c.name);
  }
  const aggNames: string[] = [];
  for (const a of q.aggs) {
    if (names.includes(a.label)) continue;
    select.push(`${aggSql(ctx, a, p)} AS ${quoteIdent(a.label)}`);
    names.push(a.label);
    aggNames.push(a.label);
  }
  // Buckets oldest first; then the first aggregate, largest first; ties by the group columns.
  const orderBy = [
    ...(q.bucketMs === undefined ? [] : ['"bucket" ASC']),
    ...(aggNames[0] === undefined ? [] : [`${quoteIdent(aggNames[0])} DESC NULLS LAST`]),
    ...group.filter((g) => g !== '"bucket"').map((g) => `${g} ASC NULLS LAST`),
  ];
  const order = orderBy.length === 0 ? '' : ` ORDER BY ${orderBy.join(', ')}`;
  const groupText = group.length === 0 ? '' : ` GROUP BY ${group.join(', ')}`;
  const sql = `SELECT ${select.join(', ')}${from}${whereText}${groupText}${order} LIMIT ${p.add(q.limit)}`;
  return { sql, params: p.values, columns: names };
}
