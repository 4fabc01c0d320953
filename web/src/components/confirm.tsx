/**
 * A confirmation dialog (a modal <dialog>: focus is trapped, Escape cancels) that shows what an
 * action will do before it is done: the plan or dry run the page computed for it.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../live.ts';
import { ErrorLine } from './widgets.tsx';

export interface Pending {
  title: string;
  /** What will happen, computed when the dialog opens (e.g. from POST /v1/jobs/NAME/plan). */
  preview: () => Promise<ComponentChildren>;
  confirm: string;
  run: () => Promise<unknown>;
}

export function ConfirmDialog(props: { pending: Pending | undefined; onClose: (done: boolean) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [preview, setPreview] = useState<ComponentChildren>(null);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const { pending } = props;
  useEffect(() => {
    const d = ref.current;
    if (d === null) return;
    if (pending === undefined) {
      if (d.open) d.close();
      return;
    }
    setPreview(<p>Working out what will happen…</p>);
    setError(undefined);
    if (!d.open) d.showModal();
    let live = true;
    pending.preview().then(
      (p) => live && setPreview(p),
      (e: unknown) => live && setError(errorText(e)),
    );
    return () => {
      live = false;
    };
  }, [pending]);
  if (pending === undefined) return <dialog ref={ref} aria-label="confirmation" />;
  const go = async (): Promise<void> => {
    setBusy(true);
    try {
      await pending.run();
      props.onClose(true);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onClose={() => props.onClose(false)}>
      <h2 id="confirm-title">{pending.title}</h2>
      <div class="preview">{preview}</div>
      <ErrorLine error={error} />
      <div class="actions">
        <button type="button" onClick={() => props.onClose(false)}>
          Cancel
        </button>
        <button type="button" class="primary" disabled={busy} onClick={() => void go()}>
          {pending.confirm}
        </button>
      </div>
    </dialog>
  );
}
