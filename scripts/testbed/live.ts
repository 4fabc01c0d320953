/** Tearing down a process's testbeds when it exits or is killed by a signal. */

/** The testbeds of this process that are not stopped yet: torn down on exit and on signals. */
export const live = new Set<{ stopSync(): void }>();
let handlersInstalled = false;

export function installHandlers(signals: boolean): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const tb of live) tb.stopSync();
  });
  if (!signals) return;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      for (const tb of live) tb.stopSync();
      process.removeListener(sig, onSignal);
      // Die of the signal as if nobody had caught it (unless someone else handles it).
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}
