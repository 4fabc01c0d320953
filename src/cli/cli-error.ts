import { DabbaError, ValidationError, httpStatusFor } from '../errors/index.ts';
import type { ValidationIssue } from '../errors/index.ts';
import { formatIssue } from '../model/index.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';

/** An error the CLI reports as one clear message and an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(message: string, exitCode: ExitCode, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exitCode = exitCode;
  }
}

/**
 * Ends the command with this exit code and nothing more printed (the exit code of a command run by
 * `dabba exec`, any number from 0 to 255).
 */
export class CommandExit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

/** Maps any error to what the user sees and the exit code. */
export function describeError(e: unknown): { message: string; exitCode: ExitCode } {
  if (e instanceof CliError) return { message: e.message, exitCode: e.exitCode };
  if (e instanceof DabbaError) {
    const issues = (e.details['issues'] ?? (e instanceof ValidationError ? e.issues : undefined)) as
      ValidationIssue[] | undefined;
    let message = e.message;
    if (e.code === 'DABBA_E_VALIDATION' && Array.isArray(issues) && issues.length > 0) {
      message = `${issues.length} problem${issues.length === 1 ? '' : 's'}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`;
    }
    const status = httpStatusFor(e.code);
    const exitCode =
      e.code === 'DABBA_E_UNAVAILABLE' || e.code === 'DABBA_E_TIMEOUT' || e.code === 'DABBA_E_TLS'
        ? EXIT.UNREACHABLE
        : e.code === 'DABBA_E_NOT_FOUND'
          ? EXIT.NOT_FOUND
          : status >= 400 && status < 500 && e.code !== 'DABBA_E_CONFLICT'
            ? EXIT.USAGE
            : EXIT.SERVER;
    return { message, exitCode };
  }
  return { message: e instanceof Error ? e.message : String(e), exitCode: EXIT.FAILED };
}
