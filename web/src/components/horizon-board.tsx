/**
 * A board of horizon charts sharing one cursor: moving the pointer (or the arrow keys) over any chart
 * shows every chart's value at that instant.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { BoardRow } from './chart-types.ts';
import { HorizonChart } from './horizon.ts';
import { chartValue } from '../format.ts';

export type { BoardRow };

export interface LiveFeed {
  /** Called with one value per row (by key) for the next step. */
  subscribe(onStep: (values: ReadonlyMap<string, number | null>) => void): () => void;
}

function Row(props: {
  row: BoardRow;
  bands: number;
  cursor: number | undefined;
  onCursor: (x: number | undefined) => void;
  register: (key: string, chart: HorizonChart | undefined) => void;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const chart = useRef<HorizonChart | undefined>(undefined);
  const [, redraw] = useState(0);
  useEffect(() => {
    if (ref.current === null) return;
    const c = new HorizonChart(ref.current, { bands: props.bands, bandHeight: 30 });
    c.setData(props.row.series);
    chart.current = c;
    props.register(props.row.key, c);
    redraw((n) => n + 1);
    return () => props.register(props.row.key, undefined);
  }, [props.row.series, props.bands]);
  const at = props.cursor === undefined ? undefined : chart.current?.at(props.cursor);
  const move = (e: PointerEvent): void => {
    const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
    props.onCursor(Math.floor(e.clientX - r.left));
  };
  return (
    <div class="horizon-row" data-chart={props.row.key}>
      <div class="horizon-plot" onPointerMove={move} onPointerLeave={() => props.onCursor(undefined)}>
        <canvas ref={ref} aria-label={`${props.row.title}: horizon chart`} role="img" />
        {props.cursor !== undefined && <div class="horizon-cursor" style={{ left: `${props.cursor}px` }} />}
      </div>
      <span class="horizon-title">{props.row.title}</span>
      <span class="horizon-value" data-testid="cursor-value">
        {at === undefined ? chartValue(chart.current?.latest()) : chartValue(at.value)}
      </span>
    </div>
  );
}

export function HorizonBoard(props: { rows: BoardRow[]; bands: number; live?: LiveFeed }) {
  const [cursor, setCursor] = useState<number | undefined>(undefined);
  const charts = useRef(new Map<string, HorizonChart>());
  const [, tick] = useState(0);
  useEffect(() => {
    if (props.live === undefined) return;
    return props.live.subscribe((values) => {
      for (const [key, chart] of charts.current) chart.append(values.get(key) ?? null);
      tick((n) => n + 1);
    });
  }, [props.live]);
  const width = Math.max(0, ...props.rows.map((r) => r.series.values.length));
  const first = props.rows[0]?.series;
  const when = cursor !== undefined && first !== undefined ? first.start + cursor * first.step : undefined;
  return (
    <div
      class="horizon-board"
      tabIndex={0}
      aria-label="charts; arrow keys move the cursor"
      onKeyDown={(e) => {
        if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
        e.preventDefault();
        const x = cursor ?? width - 1;
        setCursor(Math.max(0, Math.min(width - 1, x + (e.key === 'ArrowLeft' ? -1 : 1))));
      }}
    >
      <p class="horizon-time" aria-live="polite">
        {when === undefined ? 'Latest values' : new Date(when).toISOString()}
      </p>
      {props.rows.map((row) => (
        <Row
          key={row.key}
          row={row}
          bands={props.bands}
          cursor={cursor}
          onCursor={setCursor}
          register={(k, c) => {
            if (c === undefined) charts.current.delete(k);
            else charts.current.set(k, c);
          }}
        />
      ))}
    </div>
  );
}
