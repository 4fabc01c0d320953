/**
 * The daemons' process-wide policy for errors nothing handled (docs/operations.md, "Unexpected
 * errors"):
 *
 * - An unhandled promise rejection is logged at error with its stack and counted; the process goes
 *   on. The promise's own operation failed; no synchronous code was cut off halfway by it.
 * - An uncaught exception from an operational cause (an errno error of a stream, socket, file or
 *   child pipe: ECONNRESET, EPIPE, ENOSPC, EMFILE, ...) is logged at error and counted; the process
 *   goes on. Such an error ends one stream; the code that raised it was only missing a listener.
 * - Any other uncaught exception is a programming error, after which Node's state may be
 *   inconsistent (a function unwound halfway): it is logged at fatal and counted, the daemon is
 *   closed (bounded in time) and the process exits with status 70, for its supervisor to restart it.
 *   Never silently: nothing is swallowed without a log line.
 *
 * The counts are in `processFaults` (the server shows them in `GET /v1/health`).
 */
import type { Logger } from './logger.ts';

export const processFaults = {
  uncaughtExceptions: 0,
  unhandledRejections: 0,
  /** Uncaught exceptions that were programming errors (the process then exits). */
  fatal: 0,
};

/** errno codes of the world outside the process: a stream or socket failed, not our code. */
const OPERATIONAL = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTCONN',
  'EAI_AGAIN',
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  'EIO',
  'EMFILE',
  'ENFILE',
  'ENOMEM',
  'EAGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
  'ERR_SOCKET_CLOSED',
  'ERR_HTTP_HEADERS_SENT',
]);

/** Whether an uncaught error comes from an operational cause (see the file's comment). */
export function isOperationalError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && OPERATIONAL.has(code);
}

export interface ProcessFaultPolicyOptions {
  logger: Logger;
  /** Closes the daemon after a programming error; bounded by `closeTimeoutMs`. */
  close?: () => Promise<void>;
  closeTimeoutMs?: number;
  /** How the process ends after a programming error (default process.exit). */
  exit?: (code: number) => void;
}

/** Exit status after a programming error (EX_SOFTWARE). */
export const FATAL_EXIT_CODE = 70;

/** Installs the policy; returns a function that removes it. */
export function installProcessFaultPolicy(o: ProcessFaultPolicyOptions): () => void {
  const exit = o.exit ?? ((code: number) => process.exit(code));
  let ending = false;
  const onRejection = (reason: unknown): void => {
    processFaults.unhandledRejections++;
    o.logger.error(
      { err: reason, unhandledRejections: processFaults.unhandledRejections },
      'unhandled promise rejection (a bug: an operation failed without a handler); the process goes on',
    );
  };
  const onException = (err: unknown): void => {
    processFaults.uncaughtExceptions++;
    if (isOperationalError(err)) {
      o.logger.error(
        { err, uncaughtExceptions: processFaults.uncaughtExceptions },
        'uncaught I/O error (a stream or socket without an error handler); the process goes on',
      );
      return;
    }
    processFaults.fatal++;
    o.logger.fatal(
      { err, uncaughtExceptions: processFaults.uncaughtExceptions },
      `uncaught exception (a programming error): closing and exiting with status ${FATAL_EXIT_CODE}`,
    );
    if (ending) return;
    ending = true;
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, o.closeTimeoutMs ?? 5000).unref());
    void Promise.race([(o.close?.() ?? Promise.resolve()).catch(() => undefined), timeout]).then(() => {
      o.logger.flush();
      exit(FATAL_EXIT_CODE);
    });
  };
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  return () => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  };
}
