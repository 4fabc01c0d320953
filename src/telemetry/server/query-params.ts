/**
 * `GET /v1/metrics/query` parameters -> a store query: `name`, `where=k=v` (also `k!=v`, `k=~re`,
 * `k!~re`; repeatable), `by=LABEL` (repeatable or comma-separated), `rate=1`, `since=1h` or
 * `start=`/`end=` (ms or ISO-8601), `step=1m`, `agg=sum|avg|max|min|count|pNN`, `over=avg|min|max|sum|count`.
 */
import { ValidationError } from '../../errors/index.ts';
import { parseDuration } from '../../lib/index.ts';
import type { Matcher, Over, Query } from '../tsdb/index.ts';

const WHERE = /^([a-zA-Z_][a-zA-Z0-9_]*)(!=|=~|!~|=)(.*)$/s;
const STEPS = [10_000, 60_000, 300_000, 3_600_000, 86_400_000];
const OVERS: readonly Over[] = ['avg', 'min', 'max', 'sum', 'count'];
/** Default range of a query without `since` or `start`. */
export const DEFAULT_SINCE_MS = 3_600_000;

function bad(param: string, message: string, found?: string): never {
  throw new ValidationError(`metrics query: ${param}: ${message}`, [
    { path: param, message, ...(found === undefined ? {} : { found }) },
  ]);
}

/** A duration with `d` (days) allowed besides ms, s, m, h: "7d", "1d12h", "90s". */
export function parseSpan(text: string): number | undefined {
  const m = /^(\d+)d(.*)$/.exec(text.trim());
  const days = m ? Number(m[1]) * 86_400_000 : 0;
  const rest = m ? m[2]! : text;
  if (m && rest === '') return days;
  const d = parseDuration(rest);
  return d.ok ? days + d.ms : undefined;
}

function parseTime(param: string, text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) bad(param, 'a time: ms since the epoch or ISO-8601', text);
  return t;
}

/** A where expression as a matcher. */
export function parseWhere(text: string): Matcher {
  const m = WHERE.exec(text);
  if (!m) bad('where', 'LABEL=VALUE (or !=, =~ regex, !~ regex)', text);
  return { label: m[1]!, op: m[2] as Matcher['op'], value: m[3]! };
}

export interface ParsedQuery {
  query: Query;
  /** The agg as asked (e.g. "p99"), null without one. */
  agg: string | null;
}

export function parseMetricsQuery(q: URLSearchParams, now: number): ParsedQuery {
  const name = q.get('name') ?? '';
  if (name === '') bad('name', 'the metric name is required (?name=...)');
  const matchers = q.getAll('where').map(parseWhere);
  const by = q
    .getAll('by')
    .flatMap((b) => b.split(','))
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const rateText = q.get('rate');
  const rate = rateText !== null && rateText !== '0' && rateText !== 'false';
  let end = now;
  let start: number;
  const endText = q.get('end');
  if (endText !== null) end = parseTime('end', endText);
  const startText = q.get('start');
  const sinceText = q.get('since');
  if (startText !== null) start = parseTime('start', startText);
  else if (sinceText !== null) {
    const s = parseSpan(sinceText);
    if (s === undefined || s <= 0) bad('since', 'a duration such as 30m, 1h, 7d', sinceText);
    start = end - s;
  } else start = end - DEFAULT_SINCE_MS;
  if (!(start < end)) bad('start', 'must be before end');
  let step: number;
  const stepText = q.get('step');
  if (stepText !== null) {
    const s = parseSpan(stepText);
    if (s === undefined || s < 1000) bad('step', 'a duration of at least 1s (e.g. 10s, 1m, 5m)', stepText);
    step = s;
  } else step = STEPS.find((s) => (end - start) / s <= 1000) ?? 86_400_000;
  const query: Query = { name, matchers, start, end: end + 1, step, rate };
  const over = q.get('over');
  if (over !== null) {
    if (!OVERS.includes(over as Over)) bad('over', 'avg, min, max, sum or count', over);
    query.over = over as Over;
  }
  let agg = q.get('agg');
  if (agg === null && by.length > 0) agg = 'sum';
  if (agg !== null) {
    const p = /^p(\d+(?:\.\d+)?)$/.exec(agg);
    if (p) {
      const pct = Number(p[1]);
      if (!(pct >= 0 && pct <= 100)) bad('agg', 'a percentile from p0 to p100', agg);
      query.agg = 'percentile';
      query.percentile = pct;
    } else if (['sum', 'avg', 'max', 'min', 'count'].includes(agg)) {
      query.agg = agg as Query['agg'] & string;
    } else bad('agg', 'sum, avg, max, min, count or pNN (e.g. p99)', agg);
    query.by = by;
  } else if (by.length > 0) query.by = by;
  return { query, agg };
}
