import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';

export type { Logger };

/** Log bytes kept in memory while the destination cannot be written (a full disk); then dropped. */
const MAX_BUFFERED_LOG_BYTES = 16 * 1024 * 1024;

/** What the log destinations could not write (a full or read-only disk, a closed stderr). */
export const logFaults = { errors: 0, droppedLines: 0 };

/**
 * Structured JSON logs (pino) to stderr, or appended to `file` when given. Level from DABBA_LOG_LEVEL,
 * default info; "silent" in tests.
 *
 * A destination that fails (ENOSPC, EROFS, EPIPE) never takes the process down: lines wait in
 * memory (up to 16 MiB, then new ones are dropped and counted) and are written with the next line
 * once the destination takes writes again. The first failure is said once on stderr. A file that
 * cannot be opened at all (its directory read-only, a file in the way) is said once, and the lines
 * go to stderr instead.
 */
export function createLogger(name: string, options: { level?: string; file?: string } = {}): Logger {
  const level = options.level ?? process.env['DABBA_LOG_LEVEL'] ?? 'info';
  const fd = options.file === undefined ? 2 : openLogFile(options.file);
  const dest = pino.destination({ fd, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES });
  dest.on('error', (e: NodeJS.ErrnoException) => {
    logFaults.errors++;
    if (logFaults.errors === 1 && fd !== 2) {
      process.stderr.write(
        `dabba: cannot write the log ${options.file ?? ''} (${e.code ?? e.message}); lines wait in memory until it can\n`,
      );
    }
  });
  dest.on('drop', () => {
    logFaults.droppedLines++;
  });
  // pino flushes the destination synchronously at exit: a write refused then (a full disk) would end
  // the process on a stack trace. The lines still waiting are dropped instead.
  const flushSync = dest.flushSync.bind(dest);
  dest.flushSync = (): void => {
    try {
      flushSync();
    } catch {
      logFaults.droppedLines++;
    }
  };
  return pino({ name, level, base: { pid: process.pid } }, dest);
}

/** The log file opened for appending (its directory made), or stderr's 2 when it cannot be. */
function openLogFile(file: string): number {
  try {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a', 0o644);
  } catch (e) {
    logFaults.errors++;
    process.stderr.write(
      `dabba: cannot open the log ${file} (${(e as NodeJS.ErrnoException).code ?? String(e)}); logging to stderr instead\n`,
    );
    return 2;
  }
}

export const silentLogger: Logger = pino({ level: 'silent' });
