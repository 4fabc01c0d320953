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
 * once the destination takes writes again. The first failure is said once on stderr.
 */
export function createLogger(name: string, options: { level?: string; file?: string } = {}): Logger {
  const level = options.level ?? process.env['DABBA_LOG_LEVEL'] ?? 'info';
  const dest =
    options.file === undefined
      ? pino.destination({ fd: 2, sync: false, maxLength: MAX_BUFFERED_LOG_BYTES })
      : pino.destination({
          dest: options.file,
          mkdir: true,
          append: true,
          sync: false,
          maxLength: MAX_BUFFERED_LOG_BYTES,
        });
  dest.on('error', (e: NodeJS.ErrnoException) => {
    logFaults.errors++;
    if (logFaults.errors === 1 && options.file !== undefined) {
      process.stderr.write(
        `dabba: cannot write the log ${options.file} (${e.code ?? e.message}); lines wait in memory until it can\n`,
      );
    }
  });
  dest.on('drop', () => {
    logFaults.droppedLines++;
  });
  return pino({ name, level, base: { pid: process.pid } }, dest);
}

export const silentLogger: Logger = pino({ level: 'silent' });
