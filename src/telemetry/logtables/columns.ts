/**
 * Schema discovery: what column a key of a written row becomes, what type a value has, and how a
 * table's columns change when a value does not fit the column it goes to. Pure: no DuckDB here.
 */
import { LOG_TABLE_LIMITS, type LogColumnType, type LogValue } from '../../model/index.ts';

/** Columns every table has: when a row happened, whose it is, and its weight under sampling. */
export const TIME = 'time';
export const NAMESPACE = 'namespace';
export const WEIGHT = '_weight';
/** Values that did not fit their column's type (a string in a number column), as a JSON object. */
export const EXTRA = '_extra';

export const BASE_COLUMNS: ReadonlyArray<readonly [string, LogColumnType]> = [
  [TIME, 'TIMESTAMP_MS'],
  [NAMESPACE, 'VARCHAR'],
  [WEIGHT, 'BIGINT'],
];

/** Keys the writer may not set: the server sets them. */
const RESERVED = new Set([NAMESPACE, WEIGHT, EXTRA]);

/** Column names: lower-case letters, digits and `_`, not starting with a digit. */
export const COLUMN_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The column a key goes to: camelCase split into snake_case, lower case, every other character `_`,
 * a leading digit prefixed, at most 63 characters. DuckDB's identifiers ignore case, so `Level` and
 * `level` are one column. Returns undefined for a key that leaves nothing (e.g. "").
 */
export function columnNameOf(key: string): string | undefined {
  const known = NAMES.get(key);
  if (known !== undefined || NAMES.has(key)) return known;
  const name = computeColumnName(key);
  if (NAMES.size >= 10_000) NAMES.clear();
  NAMES.set(key, name);
  return name;
}

/** Keys seen recently and their columns (rows of one table repeat their keys). */
const NAMES = new Map<string, string | undefined>();

function computeColumnName(key: string): string | undefined {
  let s = key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_');
  if (s === '' || /^_*$/.test(s)) return undefined;
  if (/^[0-9]/.test(s)) s = `_${s}`;
  return s.slice(0, 63);
}

/** The type a value needs (undefined for null, which fits any column). */
export function typeOf(value: LogValue): LogColumnType | undefined {
  if (value === null) return undefined;
  if (typeof value === 'boolean') return 'BOOLEAN';
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'BIGINT' : 'DOUBLE';
  return 'VARCHAR';
}

/** A written value as a column value: objects and arrays as JSON text, long strings cut. */
export function scalarOf(value: unknown): LogValue | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string') return value.slice(0, LOG_TABLE_LIMITS.valueChars);
  if (typeof value === 'object') return JSON.stringify(value).slice(0, LOG_TABLE_LIMITS.valueChars);
  return undefined;
}

/** What to do with a value of type `value` bound for a column of type `column`. */
export type Fit =
  /** Store as is. */
  | 'as-is'
  /** Store its text (a number or boolean in a VARCHAR column: nothing is lost). */
  | 'as-text'
  /** Widen the column first (BIGINT to DOUBLE). */
  | 'widen'
  /** Keep it in `_extra` (a string in a number column): the column keeps its type for queries. */
  | 'extra';

export function fitOf(column: LogColumnType, value: LogColumnType): Fit {
  if (column === value) return 'as-is';
  if (column === 'VARCHAR') return 'as-text';
  if (column === 'DOUBLE' && value === 'BIGINT') return 'as-is';
  if (column === 'BIGINT' && value === 'DOUBLE') return 'widen';
  return 'extra';
}

export interface NormalizedRow {
  /** Epoch ms. */
  time: number;
  values: Map<string, LogValue>;
}

/**
 * A written row as columns: its keys mapped to column names (a later key mapping to the same name
 * wins), reserved keys dropped, `time` read from epoch ms or an ISO-8601 string (else `now`).
 * Returns an error message for a row that is not an object or has too many keys.
 */
export function normalizeRow(row: unknown, now: number): NormalizedRow | string {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) return 'a row must be a JSON object';
  const entries = Object.entries(row as Record<string, unknown>);
  if (entries.length > LOG_TABLE_LIMITS.keysPerRow)
    return `a row has ${entries.length} keys; at most ${LOG_TABLE_LIMITS.keysPerRow} are taken`;
  let time = now;
  const values = new Map<string, LogValue>();
  for (const [key, raw] of entries) {
    const name = columnNameOf(key);
    if (name === undefined || RESERVED.has(name)) continue;
    if (name === TIME) {
      const t = timeOf(raw);
      if (t !== undefined) time = t;
      continue;
    }
    const v = scalarOf(raw);
    if (v !== undefined) values.set(name, v);
  }
  return { time, values };
}

/** Epoch ms from a number (ms) or an ISO-8601 string; undefined otherwise. */
export function timeOf(raw: unknown): number | undefined {
  if (typeof raw === 'number' && Number.isFinite(raw) && raw > 0) return Math.round(raw);
  if (typeof raw === 'string') {
    const t = Date.parse(raw);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

/** A DuckDB identifier, quoted. Callers pass only names checked against COLUMN_NAME or table names. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
