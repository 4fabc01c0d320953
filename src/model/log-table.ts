/**
 * Log tables (Scuba style): rows without a declared schema, queried by filters, group-bys and
 * aggregates. These are the API's shapes (`GET /v1/tables`, `GET /v1/tables/TABLE/query`,
 * `POST /v1/tables/TABLE/rows`, the agent's task-log batches).
 */

/** A column's type as discovered from the values written to it. */
export type LogColumnType = 'BOOLEAN' | 'BIGINT' | 'DOUBLE' | 'VARCHAR' | 'TIMESTAMP_MS';

export interface LogColumn {
  name: string;
  type: LogColumnType;
}

export interface LogTableInfo {
  name: string;
  columns: LogColumn[];
  /** Rows the caller may see (its namespace's), as stored (not corrected by sampling). */
  rows: number;
  /** 1: every row kept; N: one row in N kept, each weighing N in counts and sums. */
  sampleRate: number;
}

/** A value of a row as written: scalars; objects and arrays are kept as their JSON text. */
export type LogValue = string | number | boolean | null;

export interface LogTableQueryResult {
  table: string;
  /** Column names, in order: the group-by columns (and `bucket`), then the aggregates; or raw columns. */
  columns: string[];
  rows: Record<string, LogValue>[];
  /** Whether counts and sums were corrected by a sample rate. */
  sampled: boolean;
}

/** A line a task wrote, as the agent ships it. */
export interface TaskLogLine {
  task: string;
  /** The job id (`NS:NAME`, or NAME in the default namespace). */
  job: string;
  stream: 'stdout' | 'stderr';
  /** Epoch ms. */
  time: number;
  text: string;
}

export interface TaskLogBatch {
  lines: TaskLogLine[];
  /** Lines the agent dropped since its last batch (its queue was full). */
  dropped?: number;
}

/** Limits of `POST /v1/tables/TABLE/rows` and of the agent's batches. */
export const LOG_TABLE_LIMITS = {
  rowsPerRequest: 5000,
  columnsPerTable: 500,
  keysPerRow: 200,
  /** A longer string value is cut to this many characters. */
  valueChars: 16 * 1024,
  /** A longer task log line is cut to this many characters before it is shipped. */
  lineChars: 16 * 1024,
} as const;

/** Table names: lower-case letters, digits and `_`, starting with a letter (at most 63). */
export const LOG_TABLE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
