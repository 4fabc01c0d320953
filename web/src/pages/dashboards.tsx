/**
 * Dashboards: a board (stored in the control plane, `/v1/boards/NAME`) is a list of metric queries
 * (`GET /v1/metrics/query`); each series of each answer is one horizon chart row, one pixel per
 * step, all sharing a cursor. A time range picker sets `since` (and the step, so a day is 1,440
 * one-minute pixels); the board appends each new step live without redrawing. `fleet` and
 * `job.NAME` have defaults when nothing is stored under them; writers edit and save any board.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { DabbaError } from '../../../src/errors/index.ts';
import type { Board, PutBoardRequest } from '../../../src/model/board.ts';
import type { PageProps } from '../app.tsx';
import { HorizonBoard, type BoardRow, type LiveFeed } from '../components/horizon-board.tsx';
import { ErrorLine } from '../components/widgets.tsx';
import { errorText } from '../live.ts';
import { namespaceFor } from '../session.ts';
import { defaultBoard } from './board-defaults.ts';
import { BoardEditor } from './board-editor.tsx';
import { seriesRows } from './dashboard-data.ts';

const RANGES: { label: string; since: string; step: string; stepMs: number }[] = [
  { label: '1 hour', since: '1h', step: '10s', stepMs: 10_000 },
  { label: '6 hours', since: '6h', step: '1m', stepMs: 60_000 },
  { label: '24 hours', since: '24h', step: '1m', stepMs: 60_000 },
];
const FIRST_RANGE = RANGES[0] ?? { label: '1 hour', since: '1h', step: '10s', stepMs: 10_000 };

const notFound = (e: unknown): boolean => e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND';

/** The stored board, or the name's default (undefined: neither), and the names to pick from. */
function useBoard({ client, me }: PageProps, name: string) {
  const [stored, setStored] = useState<Board | undefined>(undefined);
  const [draft, setDraft] = useState<PutBoardRequest | undefined>(undefined);
  const [dirty, setDirty] = useState(false);
  const [names, setNames] = useState<string[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = (): void => {
    client
      .boards()
      .get(name)
      .then(
        (b) => (
          setStored(b),
          setDraft({ title: b.title, panels: b.panels }),
          setDirty(false),
          setError(undefined)
        ),
        (e: unknown) => {
          setStored(undefined);
          setDirty(false);
          if (!notFound(e)) return setError(errorText(e));
          setDraft(defaultBoard(name, namespaceFor(me)) ?? { title: name, panels: [] });
        },
      );
    client
      .boards()
      .list()
      .then(
        (all) => setNames(all.map((b) => b.name)),
        () => undefined,
      );
  };
  useEffect(load, [name]);
  const edit = (d: PutBoardRequest): void => (setDraft(d), setDirty(true));
  const save = (): void => {
    if (draft === undefined) return;
    client
      .boards()
      .put(name, { ...draft, ...(stored === undefined ? {} : { version: stored.version }) })
      .then((b) => (setStored(b), setDirty(false), setError(undefined), load()))
      .catch((e: unknown) => setError(errorText(e)));
  };
  const remove = (): void => {
    client
      .boards()
      .remove(name)
      .then(load, (e: unknown) => setError(errorText(e)));
  };
  return { stored, draft, dirty, names, error, edit, save, remove };
}

export function Dashboards(props: PageProps & { board: string }) {
  const { client, me, write } = props;
  const b = useBoard(props, props.board);
  // Queries see every namespace the token covers: host series carry none, so `*` when it may.
  const metrics = useMemo(
    () => (me.namespaces === '*' ? client.with({ namespace: '*' }) : client),
    [client, me],
  );
  const [range, setRange] = useState(FIRST_RANGE);
  const [rows, setRows] = useState<BoardRow[]>([]);
  const [error, setError] = useState<string | undefined>(undefined);
  const panels = b.draft?.panels;
  useEffect(() => {
    if (panels === undefined) return;
    let live = true;
    Promise.all(
      panels.map(async (p) =>
        seriesRows(p, await metrics.queryMetrics({ ...p.query, since: range.since, step: range.step })),
      ),
    )
      .then((all) => live && (setRows(all.flat()), setError(undefined)))
      .catch((e: unknown) => live && setError(errorText(e)));
    return () => {
      live = false;
    };
  }, [panels, range]);
  // Live: each step, the newest step of every panel, appended to the charts (no redraw).
  const feed = useMemo<LiveFeed>(
    () => ({
      subscribe(onStep) {
        const timer = setInterval(() => {
          void Promise.all(
            (panels ?? []).map(async (p) =>
              seriesRows(p, await metrics.queryMetrics({ ...p.query, since: range.step, step: range.step })),
            ),
          )
            .then((all) => onStep(new Map(all.flat().map((r) => [r.key, r.series.values.at(-1) ?? null]))))
            .catch(() => undefined);
        }, range.stepMs);
        return () => clearInterval(timer);
      },
    }),
    [panels, range],
  );
  const choices = [...new Set(['fleet', props.board, ...b.names])].sort();
  return (
    <>
      <h1>{b.draft?.title ?? props.board}</h1>
      <div class="filters">
        <label>
          Board
          <select
            value={props.board}
            onChange={(e) => (location.hash = `#/dashboards/${encodeURIComponent(e.currentTarget.value)}`)}
          >
            {choices.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
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
        <span class="muted" data-testid="board-state">
          {b.stored === undefined
            ? 'default board (not saved)'
            : `saved v${b.stored.version} by ${b.stored.author}`}
        </span>
      </div>
      <ErrorLine error={b.error ?? error} />
      {write && b.draft !== undefined && (
        <BoardEditor
          draft={b.draft}
          dirty={b.dirty}
          stored={b.stored !== undefined}
          onChange={b.edit}
          onSave={b.save}
          onDelete={b.remove}
        />
      )}
      {rows.length === 0 && panels !== undefined && (
        <p class="muted">No data for this board's panels in this range.</p>
      )}
      <HorizonBoard rows={rows} bands={4} live={feed} />
    </>
  );
}
