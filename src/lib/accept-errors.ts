/**
 * Errors a listening server meets after it is up, above all running out of file descriptors.
 * On `accept` EMFILE / ENFILE, libuv accepts the pending connections on a descriptor it keeps in
 * reserve and closes them at once (its "EMFILE trick"), so the accept loop neither spins nor stops,
 * and the server answers again as soon as descriptors are free; such connections are not reported.
 * Any accept error libuv does hand on is emitted by Node as 'error' on the server, which without a
 * listener ends the process.
 *
 * Here: the first error of a burst is logged (warn), the others are counted, and the end of the
 * burst is logged with the count; the server keeps listening.
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
