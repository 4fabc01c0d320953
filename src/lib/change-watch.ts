/**
 * A follower's wait for a file (or a directory's files) to change: a watch wakes it at once, and a
 * pause bounds the wait (a missed event, or a path that cannot be watched and is polled instead).
 */
import { watch, type FSWatcher } from 'node:fs';
import { sleep } from './abort.ts';

export class ChangeWatch {
  /** Set by a change; the follower clears it before each read, so a change during the read counts. */
  changed = false;
  #watcher: FSWatcher | undefined;
  #wake: (() => void) | undefined;

  /** Watches `path`; when it cannot be (it does not exist yet, no inotify left) `watching` is false. */
  constructor(path: string) {
    try {
      this.#watcher = watch(path, () => {
        this.changed = true;
        this.#wake?.();
      });
      this.#watcher.on('error', () => this.close());
    } catch {
      // Not watched: the caller polls.
    }
  }

  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  /** Until a change, `ms` or the signal, whichever first; at once when a change came since the last read. */
  async wait(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.changed) return;
    const woken = new AbortController();
    this.#wake = () => woken.abort();
    try {
      await sleep(ms, signal === undefined ? woken.signal : AbortSignal.any([signal, woken.signal]));
    } finally {
      this.#wake = undefined;
    }
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
