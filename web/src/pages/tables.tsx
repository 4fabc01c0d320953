/**
 * Log tables (`/v1/tables`, docs/logtables.md): a query builder over a table's discovered columns,
 * the result as a table, and, when grouped by time buckets, as a time-series chart (one line per
 * group). The query lives in the address, so a result can be shared or reloaded.
 */
import { useEffect, useState } from 'preact/hooks';
import type { LogTableInfo, LogTableQueryResult, LogValue } from '../../../src/model/log-table.ts';
import type { PageProps } from '../app.tsx';
import { LineChart } from '../components/line-chart.tsx';
import { ErrorLine } from '../components/widgets.tsx';
import { errorText } from '../live.ts';
import { TableBuilder } from './table-builder.tsx';
import { apiQuery, chartLines, fromSearch, toHash } from './table-query.ts';

function cell(v: LogValue | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toPrecision(4);
  return String(v);
}

export function Tables({ client, query }: PageProps & { query: URLSearchParams }) {
  const [tables, setTables] = useState<LogTableInfo[] | undefined>(undefined);
  const [result, setResult] = useState<LogTableQueryResult | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const state = fromSearch(query);
  const key = query.toString();
  useEffect(() => {
    client.listTables().then(setTables, (e: unknown) => setError(errorText(e)));
  }, []);
  useEffect(() => {
    if (state.table === '') return;
    let live = true;
    client.queryTable(state.table, apiQuery(state)).then(
      (r) => live && (setResult(r), setError(undefined)),
      (e: unknown) => live && (setResult(undefined), setError(errorText(e))),
    );
    return () => {
      live = false;
    };
  }, [key]);
  const lines = result === undefined ? [] : chartLines(state, result);
  return (
    <>
      <h1>Log tables</h1>
      {tables !== undefined && tables.length === 0 && <p class="muted">No tables yet.</p>}
      {tables !== undefined && tables.length > 0 && (
        <TableBuilder key={key} tables={tables} initial={state} onRun={(s) => (location.hash = toHash(s))} />
      )}
      <ErrorLine error={error} />
      {lines.length > 0 && <LineChart series={lines} label={`${state.table} over time`} />}
      {result !== undefined && (
        <div class="table-scroll">
          <table data-testid="result">
            <caption>
              {result.rows.length} rows{result.sampled ? ' (sampled: counts and sums corrected)' : ''}
            </caption>
            <thead>
              <tr>
                {result.columns.map((c) => (
                  <th key={c}>{c}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {result.rows.map((r, i) => (
                <tr key={i}>
                  {result.columns.map((c) => (
                    <td key={c}>{cell(r[c])}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
