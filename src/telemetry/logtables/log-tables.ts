/**
 * Log tables on DuckDB (one database file under the server's data dir): rows are appended without a
 * declared schema (columns.ts decides what a key becomes), queried through query.ts's SQL, trimmed by
 * age and size (retention.ts), and sampled per table when told to.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DuckDBDataChunk,
  DuckDBInstance,
  timestampMillisValue,
  type DuckDBConnection,
  type DuckDBValue,
} from '@duckdb/node-api';
import { DabbaError, StorageReadOnlyError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { systemClock, writeRefused } from '../../lib/index.ts';
import {
  LOG_TABLE_LIMITS,
  LOG_TABLE_NAME,
  type LogColumnType,
  type LogTableInfo,
  type LogTableQueryResult,
  type LogValue,
} from '../../model/index.ts';
import { BASE_COLUMNS, NAMESPACE, WEIGHT, normalizeRow, quoteIdent, type NormalizedRow } from './columns.ts';
import { planColumns, rowValuesFor } from './plan-columns.ts';
import { buildSql, parseQuery, type ParsedQuery, type QuerySpec } from './query.ts';

export interface LogTablesOptions {
  /** The directory of the database file (created if needed). */
  dir: string;
  clock?: Clock;
  /** Random numbers in [0, 1) for sampling (default Math.random). */
  random?: () => number;
  /** DuckDB's threads (default 2) and memory limit (default "1GB"). */
  threads?: number;
  memoryLimit?: string;
  /** At most this many tables (default 100): a table is created by its first row. */
  maxTables?: number;
}

export interface InsertContext {
  /** Whose rows these are: `namespace` column ('' for rows of the cluster itself). */
  namespace: string;
  /** Columns set on every row, over what the row says (tasklogs: task, job, host, stream). */
  fixed?: Record<string, LogValue>;
}

export interface QueryScope {
  /** Only this namespace's rows; undefined: every namespace's. */
  namespace?: string;
  /** Rows of no namespace ('') are shown too (the events table: hosts, images). */
  clusterRows?: boolean;
  signal?: AbortSignal;
}

const SYSTEM_PREFIX = '_dabba_';
/** Rows per data chunk (DuckDB's vector size). */
const CHUNK_ROWS = 2048;
/** Runs of a query that raced column changes before its answer is taken as it is (see `query`). */
const QUERY_ATTEMPTS = 5;

/** A row's value (rowValues: already fitted to its column) as DuckDB takes it for a column type. */
const CONVERT: Record<LogColumnType, (v: LogValue | Date) => DuckDBValue> = {
  TIMESTAMP_MS: (v) => (v instanceof Date ? timestampMillisValue(BigInt(v.getTime())) : null),
  BIGINT: (v) => (typeof v === 'number' ? BigInt(v) : null),
  DOUBLE: (v) => (typeof v === 'number' ? v : null),
  BOOLEAN: (v) => (typeof v === 'boolean' ? v : null),
  VARCHAR: (v) => (v === null || v instanceof Date ? null : String(v)),
};

/** Orders the writes (DDL and appends) of one connection; reads use connections of their own. */
class Serial {
  #tail: Promise<unknown> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(f, f);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}

export class LogTables {
  readonly #instance: DuckDBInstance;
  readonly #write: DuckDBConnection;
  readonly #serial = new Serial();
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #maxTables: number;
  /** Each table's columns in table order. */
  readonly #schemas = new Map<string, Map<string, LogColumnType>>();
  /**
   * Counts column additions and widenings, each made before the rows that brought it are appended:
   * a query whose columns were taken before a change and whose rows were read after it may hold
   * rows without their new columns, and is run again (see `query`).
   */
  #schemaChanges = 0;
  readonly #settings = new Map<string, { sampleRate: number; weighted: boolean }>();
  #closed = false;
  readonly #dir: string;

  private constructor(instance: DuckDBInstance, write: DuckDBConnection, o: LogTablesOptions) {
    this.#dir = o.dir;
    this.#instance = instance;
    this.#write = write;
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#maxTables = o.maxTables ?? 100;
  }

  static async open(o: LogTablesOptions): Promise<LogTables> {
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    const instance = await DuckDBInstance.create(join(o.dir, 'logtables.duckdb'), {
      threads: String(o.threads ?? 2),
      memory_limit: o.memoryLimit ?? '1GB',
    });
    const write = await instance.connect();
    const t = new LogTables(instance, write, o);
    await t.#load();
    return t;
  }

  async #load(): Promise<void> {
    await this.#write.run(
      `CREATE TABLE IF NOT EXISTS ${SYSTEM_PREFIX}tables(name VARCHAR PRIMARY KEY, sample_rate BIGINT, weighted BOOLEAN)`,
    );
    await this.#write.run(
      `CREATE TABLE IF NOT EXISTS ${SYSTEM_PREFIX}meta(key VARCHAR PRIMARY KEY, value VARCHAR)`,
    );
    const cols = await this.#write.runAndReadAll(
      `SELECT table_name, column_name, data_type FROM information_schema.columns
       WHERE table_schema = 'main' AND table_catalog = current_database() ORDER BY table_name, ordinal_position`,
    );
    for (const r of cols.getRowObjectsJS()) {
      const table = textOf(r['table_name']);
      if (table.startsWith(SYSTEM_PREFIX)) continue;
      let m = this.#schemas.get(table);
      if (!m) this.#schemas.set(table, (m = new Map<string, LogColumnType>()));
      m.set(textOf(r['column_name']), textOf(r['data_type']) as LogColumnType);
    }
    const settings = await this.#write.runAndReadAll(
      `SELECT name, sample_rate, weighted FROM ${SYSTEM_PREFIX}tables`,
    );
    for (const r of settings.getRowObjectsJS()) {
      this.#settings.set(textOf(r['name']), {
        sampleRate: Number(r['sample_rate']),
        weighted: r['weighted'] === true,
      });
    }
  }

  /** The tables and their columns (`_weight` left out); rows counted in the scope's namespace. */
  async list(scope: QueryScope = {}): Promise<LogTableInfo[]> {
    const out: LogTableInfo[] = [];
    for (const [name, cols] of [...this.#schemas].sort(([a], [b]) => a.localeCompare(b))) {
      const rows = await this.#read(async (c) => {
        const where =
          scope.namespace === undefined
            ? ''
            : ` WHERE ${quoteIdent(NAMESPACE)} = $ns${scope.clusterRows && name === 'events' ? ` OR ${quoteIdent(NAMESPACE)} = ''` : ''}`;
        const r = await c.runAndReadAll(
          `SELECT count(*) AS n FROM ${quoteIdent(name)}${where}`,
          scope.namespace === undefined ? {} : { ns: scope.namespace },
        );
        return Number(r.getRowObjectsJS()[0]?.['n'] ?? 0);
      }, scope.signal);
      out.push({
        name,
        columns: [...cols].filter(([c]) => c !== WEIGHT).map(([c, type]) => ({ name: c, type })),
        rows,
        sampleRate: this.#settings.get(name)?.sampleRate ?? 1,
      });
    }
    return out;
  }

  /** Whether the table exists (it does once a row was written to it). */
  has(table: string): boolean {
    return this.#schemas.has(table);
  }

  /** Keeps 1 row in `rate` of the table from now on (1: every row); counts and sums stay true. */
  async setSampleRate(table: string, rate: number): Promise<void> {
    checkTableName(table);
    if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000)
      throw new DabbaError(
        'DABBA_E_VALIDATION',
        `sample rate must be an integer from 1 to 1000000, got ${rate}`,
      );
    await this.#serial.run(async () => {
      await this.#writable();
      const weighted = rate > 1 || (this.#settings.get(table)?.weighted ?? false);
      await this.#write.run(
        `INSERT OR REPLACE INTO ${SYSTEM_PREFIX}tables VALUES ($name, $rate, $weighted)`,
        { name: table, rate, weighted },
      );
      this.#settings.set(table, { sampleRate: rate, weighted });
    });
  }

  /**
   * Appends rows (JSON objects) to a table, creating it and its columns as needed. Rows that are
   * not objects are refused before anything is written. Returns how many rows were written (fewer
   * than given when the table samples).
   */
  async insert(table: string, rows: readonly unknown[], ctx: InsertContext): Promise<{ written: number }> {
    checkTableName(table);
    if (rows.length > LOG_TABLE_LIMITS.rowsPerRequest)
      throw new DabbaError(
        'DABBA_E_VALIDATION',
        `${rows.length} rows in one request; at most ${LOG_TABLE_LIMITS.rowsPerRequest} are taken`,
      );
    const now = this.#clock.now();
    const normalized: NormalizedRow[] = [];
    for (const [i, row] of rows.entries()) {
      const n = normalizeRow(row, now);
      if (typeof n === 'string')
        throw new DabbaError('DABBA_E_VALIDATION', `rows[${i}]: ${n}`, { details: { row: i } });
      for (const [k, v] of Object.entries(ctx.fixed ?? {})) n.values.set(k, v);
      normalized.push(n);
    }
    return this.#serial.run(() => this.#append(table, normalized, ctx.namespace));
  }

  /**
   * Refuses a write on a directory that refuses writes (a read-only or emergency read-only file
   * system): DuckDB aborts the whole process when it cannot undo a failed write (it truncates its
   * WAL), so it is not given one. One probe write (write-probe.ts) per batch.
   */
  async #writable(): Promise<void> {
    const refused = await writeRefused(this.#dir);
    if (refused === undefined) return;
    throw new StorageReadOnlyError(
      `the log tables cannot write: ${this.#dir} refuses writes (${refused}); reads still work`,
      { where: this.#dir, reason: 'read-only' },
    );
  }

  async #append(table: string, rows: NormalizedRow[], namespace: string): Promise<{ written: number }> {
    if (this.#closed) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the log tables are closed');
    await this.#writable();
    const rate = this.#settings.get(table)?.sampleRate ?? 1;
    const kept = rate > 1 ? rows.filter(() => this.#random() * rate < 1) : rows;
    if (kept.length === 0) return { written: 0 };
    let schema = this.#schemas.get(table);
    if (schema === undefined) {
      if (this.#schemas.size >= this.#maxTables)
        throw new DabbaError(
          'DABBA_E_VALIDATION',
          `there are ${this.#schemas.size} log tables already (the most kept)`,
          {
            details: { table },
          },
        );
      const cols = BASE_COLUMNS.map(([c, t]) => `${quoteIdent(c)} ${t}`).join(', ');
      await this.#write.run(`CREATE TABLE IF NOT EXISTS ${quoteIdent(table)}(${cols})`);
      schema = new Map(BASE_COLUMNS.map(([c, t]) => [c, t]));
      this.#schemas.set(table, schema);
    }
    const plan = planColumns(schema, kept, LOG_TABLE_LIMITS.columnsPerTable);
    for (const [c, t] of plan.add) {
      await this.#write.run(
        `ALTER TABLE ${quoteIdent(table)} ADD COLUMN IF NOT EXISTS ${quoteIdent(c)} ${t}`,
      );
      schema.set(c, t);
      this.#schemaChanges++;
    }
    for (const c of plan.widen) {
      await this.#write.run(
        `ALTER TABLE ${quoteIdent(table)} ALTER COLUMN ${quoteIdent(c)} SET DATA TYPE DOUBLE`,
      );
      schema.set(c, 'DOUBLE');
      this.#schemaChanges++;
    }
    const order = [...schema];
    const convert = order.map(([, t]) => CONVERT[t]);
    const rowValues = rowValuesFor(order);
    const appender = await this.#write.createAppender(table);
    try {
      const types = order.map((_, i) => appender.columnType(i));
      for (let start = 0; start < kept.length; start += CHUNK_ROWS) {
        const part = kept.slice(start, start + CHUNK_ROWS);
        const cols: DuckDBValue[][] = order.map(() => new Array<DuckDBValue>(part.length));
        for (const [r, row] of part.entries()) {
          const values = rowValues(row, namespace, rate);
          for (let c = 0; c < values.length; c++) {
            const col = cols[c];
            if (col) col[r] = convert[c]?.(values[c] ?? null) ?? null;
          }
        }
        const chunk = DuckDBDataChunk.create(types, part.length);
        chunk.setColumns(cols);
        appender.appendDataChunk(chunk);
      }
      appender.flushSync();
    } finally {
      appender.closeSync();
    }
    return { written: kept.length };
  }

  /**
   * Runs a query (query.ts's language) on a table, in the scope's namespace. Its SQL names the
   * table's columns as known when it starts; when a column was added or widened before its rows
   * were read, they may include rows that brought the column, so it is run again with the new
   * columns, up to QUERY_ATTEMPTS runs in all (a table whose columns change on every insert could
   * still give the last run's rows without a column added meanwhile).
   */
  async query(table: string, spec: QuerySpec, scope: QueryScope = {}): Promise<LogTableQueryResult> {
    checkTableName(table);
    this.#columnsOf(table);
    const parsed = parseQuery(spec);
    for (let attempt = 1; ; attempt++) {
      const changes = this.#schemaChanges;
      const result = await this.#queryOnce(table, parsed, scope);
      if (changes === this.#schemaChanges || attempt >= QUERY_ATTEMPTS) return result;
    }
  }

  #columnsOf(table: string): ReadonlyMap<string, LogColumnType> {
    const columns = this.#schemas.get(table);
    if (columns === undefined)
      throw new DabbaError(
        'DABBA_E_NOT_FOUND',
        `no log table "${table}" (see dabba table ls / GET /v1/tables)`,
        {
          details: { table, tables: [...this.#schemas.keys()] },
        },
      );
    return columns;
  }

  async #queryOnce(table: string, parsed: ParsedQuery, scope: QueryScope): Promise<LogTableQueryResult> {
    const columns = this.#columnsOf(table);
    const weighted = this.#settings.get(table)?.weighted ?? false;
    const built = buildSql(
      {
        table,
        columns,
        ...(scope.namespace === undefined ? {} : { namespace: scope.namespace }),
        ...(scope.clusterRows ? { clusterRows: true } : {}),
        weighted,
        now: this.#clock.now(),
      },
      parsed,
    );
    const rows = await this.#read(async (c) => {
      try {
        const r = await c.runAndReadAll(built.sql, built.params);
        return r.getRowObjectsJS();
      } catch (e) {
        // The SQL is ours and checked; what DuckDB refuses here is a value (a regex it cannot compile).
        throw new DabbaError('DABBA_E_VALIDATION', `the query was refused: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }, scope.signal);
    return {
      table,
      columns: built.columns,
      rows: rows.map((r) => {
        const out: Record<string, LogValue> = {};
        for (const k of built.columns) out[k] = jsonValue(r[k]);
        return out;
      }),
      sampled: weighted && !parsed.raw,
    };
  }

  /** Runs `f` on a connection of its own, interrupted when the signal aborts. */
  async #read<T>(f: (c: DuckDBConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#closed) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the log tables are closed');
    const c = await this.#instance.connect();
    const stop = (): void => c.interrupt();
    signal?.addEventListener('abort', stop, { once: true });
    try {
      return await f(c);
    } finally {
      signal?.removeEventListener('abort', stop);
      c.closeSync();
    }
  }

  /** Runs `f` with the write connection, after every write before it. For retention and feeds. */
  writing<T>(f: (c: DuckDBConnection, tables: string[]) => Promise<T>): Promise<T> {
    return this.#serial.run(async () => {
      await this.#writable();
      return f(this.#write, [...this.#schemas.keys()]);
    });
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.#serial.run(async () => {
      const r = await this.#write.runAndReadAll(`SELECT value FROM ${SYSTEM_PREFIX}meta WHERE key = $key`, {
        key,
      });
      const v = r.getRowObjectsJS()[0]?.['value'];
      return typeof v === 'string' ? v : undefined;
    });
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#serial.run(async () => {
      await this.#writable();
      await this.#write.run(`INSERT OR REPLACE INTO ${SYSTEM_PREFIX}meta VALUES ($key, $value)`, {
        key,
        value,
      });
    });
  }

  async close(): Promise<void> {
    await this.#serial.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      await this.#write.run('CHECKPOINT').catch(() => undefined);
      this.#write.closeSync();
      this.#instance.closeSync();
    });
  }
}

function checkTableName(table: string): void {
  if (!LOG_TABLE_NAME.test(table))
    throw new DabbaError(
      'DABBA_E_VALIDATION',
      `"${table}" is not a table name (lower-case letters, digits and _, starting with a letter; at most 63)`,
      { details: { table } },
    );
}

function textOf(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A DuckDB value (as JS) as JSON: bigints as numbers, times as ISO-8601. */
function jsonValue(v: unknown): LogValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x));
}
