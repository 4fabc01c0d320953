/**
 * A small time-series line chart (SVG): one line per series over shared time and value axes, with a
 * legend. Used for log-table results grouped by time bucket.
 */
import type { LineSeries } from './chart-types.ts';

export type { LineSeries };

const COLORS = ['#2f81f7', '#d29922', '#3fb950', '#f85149', '#a371f7', '#db61a2', '#39c5cf', '#8b949e'];
const W = 720;
const H = 220;
const PAD = { left: 56, right: 12, top: 10, bottom: 24 };

function label(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export function LineChart(props: { series: LineSeries[]; label: string }) {
  const all = props.series.flatMap((s) => s.points);
  if (all.length === 0) return null;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const v1 = Math.max(0, ...all.map((p) => p[1]));
  const v0 = Math.min(0, ...all.map((p) => p[1]));
  const sx = (t: number): number =>
    PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right);
  const sy = (v: number): number =>
    H - PAD.bottom - (v1 === v0 ? 0 : (v - v0) / (v1 - v0)) * (H - PAD.top - PAD.bottom);
  return (
    <figure class="line-chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={props.label} data-testid="line-chart">
        <line x1={PAD.left} x2={W - PAD.right} y1={sy(v0)} y2={sy(v0)} class="axis" />
        <line x1={PAD.left} x2={PAD.left} y1={PAD.top} y2={H - PAD.bottom} class="axis" />
        <text x={PAD.left - 4} y={sy(v1) + 4} text-anchor="end" class="tick">
          {label(v1)}
        </text>
        <text x={PAD.left - 4} y={sy(v0) + 4} text-anchor="end" class="tick">
          {label(v0)}
        </text>
        <text x={PAD.left} y={H - 6} class="tick">
          {new Date(t0).toISOString().slice(11, 16)}
        </text>
        <text x={W - PAD.right} y={H - 6} text-anchor="end" class="tick">
          {new Date(t1).toISOString().slice(11, 16)}
        </text>
        {props.series.map((s, i) =>
          s.points.map(([t, v]) => (
            <circle key={`${s.name} ${t}`} cx={sx(t)} cy={sy(v)} r={2.5} fill={COLORS[i % COLORS.length]} />
          )),
        )}
        {props.series.map((s, i) => (
          <polyline
            key={s.name}
            data-series={s.name}
            fill="none"
            stroke={COLORS[i % COLORS.length]}
            stroke-width="2"
            points={[...s.points]
              .sort((a, b) => a[0] - b[0])
              .map(([t, v]) => `${sx(t).toFixed(1)},${sy(v).toFixed(1)}`)
              .join(' ')}
          />
        ))}
      </svg>
      <figcaption>
        {props.series.map((s, i) => (
          <span key={s.name} class="legend">
            <span class="swatch" style={{ background: COLORS[i % COLORS.length] }} />
            {s.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
