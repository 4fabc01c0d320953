/** Small pieces the oci runtime's parts share: task ids, errors, a look-up cache, settleAll. */
import { readFile } from 'node:fs/promises';
import { RuntimeError } from '../../errors/index.ts';
import type { ImageErrorReason } from '../../image/index.ts';

export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function fail(
  reason: string,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): RuntimeError {
  return new RuntimeError(message, { details: { reason, ...details }, cause });
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** The agent's hard open-file limit, capped at 65536 (a task cannot get more without CAP_SYS_RESOURCE). */
export async function openFileLimit(): Promise<number> {
  const text = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
  const hard = m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
  return Math.min(Number.isFinite(hard) && hard > 0 ? hard : 1024, 65536);
}

/** Remembers answers (a bounded number: cleared when full). */
export class LookupCache {
  private readonly entries = new Map<string, Promise<unknown>>();

  get<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let p = this.entries.get(key) as Promise<T> | undefined;
    if (!p) {
      if (this.entries.size >= 1024) this.entries.clear();
      p = compute();
      this.entries.set(key, p);
      // A failed look-up is not remembered.
      p.catch(() => this.entries.delete(key));
    }
    return p;
  }
}

/** Image errors that are the image's content, not the host (mount or I/O failures are the host's). */
export const REFUSED: ReadonlySet<ImageErrorReason> = new Set([
  'InvalidImage',
  'TooLarge',
  'DigestMismatch',
  'SizeMismatch',
  'UnsupportedMediaType',
]);

/** Like Promise.all, but rejects (with the first failure) only once every promise has settled. */
export async function settleAll<T extends Promise<unknown>[]>(
  ps: readonly [...T],
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  for (const r of await Promise.allSettled(ps)) if (r.status === 'rejected') throw r.reason;
  return Promise.all(ps);
}
