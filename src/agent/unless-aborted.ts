/** Waiting on a promise only until a signal aborts. */

/**
 * What `p` resolves to, or undefined as soon as the signal aborts (`p` may go on; its outcome is
 * then ignored). Leaves no listener on the signal.
 */
export async function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return undefined;
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
