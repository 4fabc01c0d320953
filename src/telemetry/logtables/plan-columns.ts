/**
 * What a batch of rows does to a table's columns (new ones, BIGINT widened to DOUBLE, `_extra` for
 * values that fit nowhere), and each row's values in the table's column order. Pure.
 */
import type { LogColumnType, LogValue } from '../../model/index.ts';
import { EXTRA, NAMESPACE, TIME, WEIGHT, fitOf, typeOf, type NormalizedRow } from './columns.ts';

export interface ColumnPlan {
  /** New columns, in the order first seen. */
  add: [string, LogColumnType][];
  /** Existing BIGINT columns that get a non-integer number. */
  widen: string[];
}

export function planColumns(
  schema: ReadonlyMap<string, LogColumnType>,
  rows: readonly NormalizedRow[],
  maxColumns: number,
): ColumnPlan {
  const added = new Map<string, LogColumnType>();
  const widen = new Set<string>();
  let extra = false;
  for (const r of rows) {
    for (const [k, v] of r.values) {
      const t = typeOf(v);
      if (t === undefined) continue;
      const existing = schema.get(k);
      if (existing !== undefined) {
        const fit = fitOf(widen.has(k) ? 'DOUBLE' : existing, t);
        if (fit === 'widen') widen.add(k);
        else if (fit === 'extra') extra = true;
        continue;
      }
      const pending = added.get(k);
      if (pending === undefined) {
        if (schema.size + added.size + (extra ? 1 : 0) >= maxColumns) extra = true;
        else added.set(k, t);
      } else {
        const fit = fitOf(pending, t);
        if (fit === 'widen') added.set(k, 'DOUBLE');
        else if (fit === 'extra') extra = true;
      }
    }
  }
  if (extra && !schema.has(EXTRA) && !added.has(EXTRA)) added.set(EXTRA, 'VARCHAR');
  return { add: [...added], widen: [...widen] };
}

/**
 * A function giving a row's values in column order (for the appender): `time` as a Date,
 * `namespace` and `_weight` from the caller, each value as its column takes it, and what fits no
 * column in `_extra` as JSON.
 */
export function rowValuesFor(
  order: ReadonlyArray<readonly [string, LogColumnType]>,
): (row: NormalizedRow, namespace: string, weight: number) => (LogValue | Date)[] {
  const columns = new Set(order.map(([c]) => c));
  const extraAt = order.findIndex(([c]) => c === EXTRA);
  return (row, namespace, weight) => {
    let extra: Record<string, LogValue> | undefined;
    const out: (LogValue | Date)[] = new Array<LogValue | Date>(order.length);
    for (let i = 0; i < order.length; i++) {
      const [c, type] = order[i] ?? ['', 'VARCHAR'];
      if (c === TIME) out[i] = new Date(row.time);
      else if (c === NAMESPACE) out[i] = namespace;
      else if (c === WEIGHT) out[i] = weight;
      else {
        const v = row.values.get(c);
        const t = v === undefined ? undefined : typeOf(v);
        if (v === undefined || v === null || t === undefined || c === EXTRA) out[i] = null;
        else {
          const fit = fitOf(type, t);
          if (fit === 'as-is' || fit === 'widen') out[i] = v;
          else if (fit === 'as-text') out[i] = String(v);
          else {
            (extra ??= {})[c] = v;
            out[i] = null;
          }
        }
      }
    }
    if (extraAt >= 0) {
      for (const [k, v] of row.values) if (!columns.has(k) && v !== null) (extra ??= {})[k] = v;
    }
    if (extra !== undefined && extraAt >= 0) out[extraAt] = JSON.stringify(extra);
    return out;
  };
}
