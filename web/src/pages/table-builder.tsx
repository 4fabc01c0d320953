/**
 * The log-table query builder: the table, filters (column, operator, value), group-by columns,
 * aggregates (function of a column), the time range and the bucket width. "Run" puts the query in
 * the address, which the page runs.
 */
import { useState } from 'preact/hooks';
import type { LogTableInfo } from '../../../src/model/log-table.ts';
import type { TableQueryState } from './table-query.ts';

const OPS = ['=', '!=', '>', '>=', '<', '<=', '~', '!~'];
const FNS = ['count', 'sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99'];
const SINCE = ['15m', '1h', '6h', '24h', '7d'];
const BUCKETS = ['', '10s', '1m', '5m', '1h'];

function Chips(props: { items: string[]; what: string; onRemove: (i: number) => void }) {
  return (
    <ul class="chips" aria-label={props.what}>
      {props.items.map((t, i) => (
        <li key={`${i} ${t}`}>
          <code>{t}</code>
          <button type="button" aria-label={`Remove ${props.what} ${t}`} onClick={() => props.onRemove(i)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

export function TableBuilder(props: {
  tables: LogTableInfo[];
  initial: TableQueryState;
  onRun: (s: TableQueryState) => void;
}) {
  const [s, setS] = useState(props.initial);
  const [col, setCol] = useState('');
  const [op, setOp] = useState('=');
  const [val, setVal] = useState('');
  const [fn, setFn] = useState('count');
  const [aggCol, setAggCol] = useState('');
  const table = props.tables.find((t) => t.name === s.table) ?? props.tables[0];
  const columns = table?.columns.map((c) => c.name) ?? [];
  const firstCol = columns[0] ?? '';
  const set = (patch: Partial<TableQueryState>): void => setS({ ...s, ...patch });
  const without = (xs: string[], i: number): string[] => xs.filter((_, j) => j !== i);
  return (
    <form
      class="card builder"
      aria-label="query builder"
      onSubmit={(e) => {
        e.preventDefault();
        props.onRun({ ...s, table: table?.name ?? s.table });
      }}
    >
      <div class="filters">
        <label>
          Table
          <select
            value={table?.name ?? ''}
            onChange={(e) => setS({ ...s, table: e.currentTarget.value, where: [], by: [], agg: [] })}
          >
            {props.tables.map((t) => (
              <option key={t.name}>{t.name}</option>
            ))}
          </select>
        </label>
        <label>
          Since
          <select value={s.since} onChange={(e) => set({ since: e.currentTarget.value })}>
            {SINCE.map((x) => (
              <option key={x}>{x}</option>
            ))}
          </select>
        </label>
        <label>
          Bucket
          <select value={s.bucket} onChange={(e) => set({ bucket: e.currentTarget.value })}>
            {BUCKETS.map((x) => (
              <option key={x} value={x}>
                {x === '' ? 'none' : x}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="filters">
        <label>
          Filter column
          <select value={col || firstCol} onChange={(e) => setCol(e.currentTarget.value)}>
            {columns.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Operator
          <select value={op} onChange={(e) => setOp(e.currentTarget.value)}>
            {OPS.map((o) => (
              <option key={o}>{o}</option>
            ))}
          </select>
        </label>
        <label>
          Value
          <input value={val} onInput={(e) => setVal(e.currentTarget.value)} />
        </label>
        <button
          type="button"
          onClick={() => (set({ where: [...s.where, `${col || firstCol}${op}${val}`] }), setVal(''))}
        >
          Add filter
        </button>
      </div>
      <Chips items={s.where} what="filter" onRemove={(i) => set({ where: without(s.where, i) })} />
      <div class="filters">
        <label>
          Group by
          <select
            value=""
            onChange={(e) => {
              const c = e.currentTarget.value;
              if (c !== '' && !s.by.includes(c)) set({ by: [...s.by, c] });
            }}
          >
            <option value="">add a column…</option>
            {columns.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          Aggregate
          <select value={fn} onChange={(e) => setFn(e.currentTarget.value)}>
            {FNS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        <label>
          Of column
          <select
            value={aggCol || firstCol}
            disabled={fn === 'count'}
            onChange={(e) => setAggCol(e.currentTarget.value)}
          >
            {columns.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() => set({ agg: [...s.agg, fn === 'count' ? 'count' : `${fn}(${aggCol || firstCol})`] })}
        >
          Add aggregate
        </button>
      </div>
      <Chips items={s.by} what="grouping" onRemove={(i) => set({ by: without(s.by, i) })} />
      <Chips items={s.agg} what="aggregate" onRemove={(i) => set({ agg: without(s.agg, i) })} />
      <button type="submit" class="primary">
        Run
      </button>
    </form>
  );
}
