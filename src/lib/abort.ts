/** Sleeps for ms, resolving early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * What `p` resolves to, or undefined once `ms` have passed, whichever comes first. Unlike a race
 * with `sleep(ms)`, the timer is cleared when `p` wins: it never holds the process open (a daemon
 * or a test would otherwise wait out the whole `ms` before exiting).
 */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  const ac = new AbortController();
  try {
    return await Promise.race([p, sleep(ms, ac.signal).then(() => undefined)]);
  } finally {
    ac.abort();
  }
}
