import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino) to stderr, or appended to `file` when given. Level from DABBA_LOG_LEVEL,
 * default info; "silent" in tests.
 */
export function createLogger(name: string, options: { level?: string; file?: string } = {}): Logger {
  const level = options.level ?? process.env['DABBA_LOG_LEVEL'] ?? 'info';
  const dest =
    options.file === undefined
      ? pino.destination({ fd: 2, sync: false })
      : pino.destination({ dest: options.file, mkdir: true, append: true, sync: false });
  return pino({ name, level, base: { pid: process.pid } }, dest);
}

export const silentLogger: Logger = pino({ level: 'silent' });
