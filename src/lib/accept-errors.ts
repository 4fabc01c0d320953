/**
 * Errors a listening server meets after it is up: above all `accept EMFILE` / `ENFILE` (no file
 * descriptor left for a new connection). Node emits them as 'error' on the server, which without a
 * listener ends the process; libuv meanwhile accepts such a connection on a reserved descriptor and
 * closes it at once (its "EMFILE trick"), so the accept loop neither spins nor stops: the server
 * answers again as soon as descriptors are free.
 *
 * Here: the first error of a burst is logged (warn), the others are counted, and the end of the
 * burst is logged with the count; nothing else is done and the server keeps listening.
 */
import type { Server } from 'node:net';
import type { Logger } from './logger.ts';

/** Quiet time after which a burst of accept errors is over. */
const BURST_END_MS = 2000;

export const acceptFaults = { errors: 0 };

export function handleAcceptErrors(server: Server, logger: Logger, what: string): void {
  let inBurst = 0;
  let timer: NodeJS.Timeout | undefined;
  server.on('error', (e: NodeJS.ErrnoException) => {
    acceptFaults.errors++;
    if (inBurst++ === 0) {
      logger.warn(
        { code: e.code, syscall: e.syscall },
        e.code === 'EMFILE' || e.code === 'ENFILE'
          ? `${what}: no file descriptor left for new connections (${e.code}); they are closed at once until some are free (raise the limit: ulimit -n / LimitNOFILE)`
          : `${what}: accepting a connection failed (${e.code ?? e.message}); still listening`,
      );
    }
    clearTimeout(timer);
    timer = setTimeout(() => {
      logger.info({ refused: inBurst }, `${what}: accepting connections again`);
      inBurst = 0;
    }, BURST_END_MS);
    timer.unref();
  });
}
