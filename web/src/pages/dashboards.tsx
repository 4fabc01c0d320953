/**
 * Dashboards: a board is a list of metric queries (`GET /v1/metrics/query`); each series of each
 * answer is one horizon chart row, one pixel per step, all sharing a cursor. A time range picker
 * sets `since` (and the step, so a day is 1,440 one-minute pixels); the board appends each new step
 * live without redrawing. Boards are kept in this browser (localStorage) for now.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { PageProps } from '../app.tsx';
import { HorizonBoard, type BoardRow, type LiveFeed } from '../components/horizon-board.tsx';
import { ErrorLine } from '../components/widgets.tsx';
import { errorText } from '../live.ts';
import { seriesRows, type Panel } from './dashboard-data.ts';

const RANGES: { label: string; since: string; step: string; stepMs: number }[] = [
  { label: '1 hour', since: '1h', step: '10s', stepMs: 10_000 },
  { label: '6 hours', since: '6h', step: '1m', stepMs: 60_000 },
  { label: '24 hours', since: '24h', step: '1m', stepMs: 60_000 },
];

/** The fleet, from what every agent collects (docs/telemetry.md): hosts' CPU and memory, tasks' by job. */
const FLEET_BOARD: Panel[] = [
  {
    title: 'CPU busy by host (cores)',
    query: {
      name: 'host_cpu_seconds_total',
      rate: true,
      where: ['mode!=idle', 'mode!=iowait'],
      by: ['host'],
    },
  },
  { title: 'Memory available by host', query: { name: 'host_memory_available_bytes', by: ['host'] } },
  { title: 'Task CPU by job (cores)', query: { name: 'task_cpu_seconds_total', rate: true, by: ['job'] } },
  { title: 'Task memory by job', query: { name: 'task_memory_bytes', by: ['job'] } },
];

function loadBoard(): Panel[] {
  try {
    const saved = localStorage.getItem('dabba.board');
    return saved === null ? FLEET_BOARD : (JSON.parse(saved) as Panel[]);
  } catch {
    return FLEET_BOARD;
  }
}

export function Dashboards({ client }: PageProps) {
  const [board, setBoard] = useState<Panel[]>(loadBoard);
  const [range, setRange] = useState(
    RANGES[0] ?? { label: '1 hour', since: '1h', step: '10s', stepMs: 10_000 },
  );
  const [rows, setRows] = useState<BoardRow[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const [draft, setDraft] = useState('');
  useEffect(() => {
    let live = true;
    Promise.all(
      board.map(async (p) =>
        seriesRows(p, await client.queryMetrics({ ...p.query, since: range.since, step: range.step })),
      ),
    )
      .then((all) => live && (setRows(all.flat()), setError(undefined)))
      .catch((e: unknown) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [board, range]);
  // Live: each step, the newest step of every panel, appended to the charts (no redraw).
  const feed = useMemo<LiveFeed>(
    () => ({
      subscribe(onStep) {
        const timer = setInterval(() => {
          void Promise.all(
            board.map(async (p) =>
              seriesRows(p, await client.queryMetrics({ ...p.query, since: range.step, step: range.step })),
            ),
          )
            .then((all) => onStep(new Map(all.flat().map((r) => [r.key, r.series.values.at(-1) ?? null]))))
            .catch(() => undefined);
        }, range.stepMs);
        return () => clearInterval(timer);
      },
    }),
    [board, range],
  );
  const save = (next: Panel[]): void => {
    setBoard(next);
    localStorage.setItem('dabba.board', JSON.stringify(next));
  };
  return (
    <>
      <h1>Dashboards</h1>
      <div class="filters">
        <label>
          Range
          <select
            value={range.label}
            onChange={(e) => setRange(RANGES.find((r) => r.label === e.currentTarget.value) ?? range)}
          >
            {RANGES.map((r) => (
              <option key={r.label}>{r.label}</option>
            ))}
          </select>
        </label>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (draft.trim() !== '') save([...board, { title: draft.trim(), query: { name: draft.trim() } }]);
            setDraft('');
          }}
        >
          <label>
            Add a metric
            <input value={draft} onInput={(e) => setDraft(e.currentTarget.value)} placeholder="metric name" />
          </label>
          <button type="submit">Add</button>
        </form>
        <button type="button" onClick={() => save(FLEET_BOARD)}>
          Reset board
        </button>
      </div>
      <ErrorLine error={error} />
      <HorizonBoard rows={rows} bands={4} live={feed} />
    </>
  );
}
