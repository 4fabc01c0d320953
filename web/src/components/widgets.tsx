/** Small shared pieces: a labelled progress bar, a state badge, an error line, a diff view. */
import type { ComponentChildren } from 'preact';
import { lineDiff } from '../format.ts';

/** `usage`: a bar that turns to the warning colour at 90% (capacity); otherwise a progress bar. */
export function Bar(props: { label: string; value: number; max: number; text?: string; usage?: boolean }) {
  const pct = props.max > 0 ? Math.min(100, Math.round((props.value / props.max) * 100)) : 0;
  return (
    <div class="bar-row">
      <span class="bar-label">{props.label}</span>
      <div
        class={`bar ${props.usage === true && pct >= 90 ? 'bar-high' : ''}`}
        role="progressbar"
        aria-label={props.label}
        aria-valuemin={0}
        aria-valuemax={props.max}
        aria-valuenow={props.value}
      >
        <div class="bar-fill" style={{ width: `${pct}%` }} />
      </div>
      <span class="bar-text">{props.text ?? `${pct}%`}</span>
    </div>
  );
}

export function Badge(props: { state: string; children?: ComponentChildren }) {
  return (
    <span class={`badge badge-${props.state.replace(/[^a-z-]/g, '')}`}>{props.children ?? props.state}</span>
  );
}

export function ErrorLine(props: { error: string | undefined }) {
  if (props.error === undefined) return null;
  return (
    <p class="error" role="alert">
      {props.error}
    </p>
  );
}

export function Diff(props: { a: string; b: string; label: string }) {
  const lines = lineDiff(props.a, props.b);
  return (
    <pre class="diff" aria-label={props.label}>
      {lines.map((l, i) => (
        <div key={i} class={l.op === '+' ? 'diff-add' : l.op === '-' ? 'diff-del' : 'diff-same'}>
          {l.op} {l.line}
        </div>
      ))}
    </pre>
  );
}
