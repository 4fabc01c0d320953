/**
 * Editing a board (deployers and admins only; a viewer's page has none of this): add a panel
 * (metric, filters, group-by, rate), remove one, save the board to the control plane (`PUT
 * /v1/boards/NAME` from the version it was loaded at) or delete it, and start a new board.
 */
import { useState } from 'preact/hooks';
import type { BoardPanel, PutBoardRequest } from '../../../src/model/board.ts';

const list = (s: string): string[] =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

function PanelForm(props: { onAdd: (p: BoardPanel) => void }) {
  const [metric, setMetric] = useState('');
  const [where, setWhere] = useState('');
  const [by, setBy] = useState('');
  const [rate, setRate] = useState(false);
  return (
    <form
      class="filters"
      aria-label="add a panel"
      onSubmit={(e) => {
        e.preventDefault();
        const name = metric.trim();
        if (name === '') return;
        const w = list(where);
        const b = list(by);
        props.onAdd({
          title: name,
          query: {
            name,
            ...(w.length ? { where: w } : {}),
            ...(b.length ? { by: b } : {}),
            ...(rate ? { rate } : {}),
          },
        });
        setMetric('');
        setWhere('');
        setBy('');
        setRate(false);
      }}
    >
      <label>
        Add a metric
        <input value={metric} onInput={(e) => setMetric(e.currentTarget.value)} placeholder="metric name" />
      </label>
      <label>
        Where
        <input
          value={where}
          onInput={(e) => setWhere(e.currentTarget.value)}
          placeholder="job=web, code=~5.."
        />
      </label>
      <label>
        By
        <input value={by} onInput={(e) => setBy(e.currentTarget.value)} placeholder="task" />
      </label>
      <label class="check">
        <input type="checkbox" checked={rate} onChange={(e) => setRate(e.currentTarget.checked)} />
        Rate
      </label>
      <button type="submit">Add</button>
    </form>
  );
}

export function BoardEditor(props: {
  draft: PutBoardRequest;
  dirty: boolean;
  stored: boolean;
  onChange: (d: PutBoardRequest) => void;
  onSave: () => void;
  onDelete: () => void;
}) {
  const { draft } = props;
  const [name, setName] = useState('');
  return (
    <details class="card editor" open={props.dirty}>
      <summary>Edit this board{props.dirty ? ' (unsaved changes)' : ''}</summary>
      <label>
        Title
        <input
          value={draft.title}
          onInput={(e) => props.onChange({ ...draft, title: e.currentTarget.value })}
        />
      </label>
      <ul class="panels" aria-label="panels">
        {draft.panels.map((p, i) => (
          <li key={`${i} ${p.title}`}>
            <span>
              {p.title} <code>{p.query.name}</code>
              {p.query.rate === true && ' rate'}
              {p.query.where?.map((w) => ` ${w}`)}
              {p.query.by !== undefined && ` by ${p.query.by.join(',')}`}
              {p.quantile !== undefined && ` p${p.quantile * 100}`}
            </span>
            <button
              type="button"
              aria-label={`Remove ${p.title}`}
              onClick={() => props.onChange({ ...draft, panels: draft.panels.filter((_, j) => j !== i) })}
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
      <PanelForm onAdd={(p) => props.onChange({ ...draft, panels: [...draft.panels, p] })} />
      <div class="actions-bar">
        <button type="button" class="primary" onClick={props.onSave}>
          Save board
        </button>
        {props.stored && (
          <button type="button" onClick={props.onDelete}>
            Delete board
          </button>
        )}
        <form
          class="group"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim() !== '') location.hash = `#/dashboards/${encodeURIComponent(name.trim())}`;
          }}
        >
          <label>
            New board
            <input value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="name" />
          </label>
          <button type="submit">Create</button>
        </form>
      </div>
    </details>
  );
}
