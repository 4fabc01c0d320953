import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs (pino). Level from DABBA_LOG_LEVEL, default info; "silent" in tests. */
export function createLogger(name: string, level = process.env['DABBA_LOG_LEVEL'] ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

export const silentLogger: Logger = pino({ level: 'silent' });
