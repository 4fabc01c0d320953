/** Runs `fn` now, turning a synchronous throw into a rejected promise (a non-Error wrapped in one). */
export function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}
