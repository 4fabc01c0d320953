/**
 * Reading a file the user names (a job file, the dependency file, remediation rules): a missing or
 * unreadable file, and a file with problems (every one at once, file:line:column), become usage
 * errors with what to fix.
 *
 * The file formats (zod schemas, the YAML parser) are loaded only by the commands that read or print
 * such a file: every other command starts without them.
 */
import { readFile } from 'node:fs/promises';
import type { ValidationIssue } from '../errors/index.ts';
import type * as Formats from '../model/files.ts';
import { formatIssue } from '../model/index.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

/** The model's file formats (`model/files.ts`), loaded on first use. */
export function fileFormats(): Promise<typeof Formats> {
  return import('../model/files.ts');
}

/** `value` as a YAML document (the `yaml` package, loaded on first use). */
export async function toYaml(value: unknown): Promise<string> {
  return (await import('yaml')).stringify(value);
}

/** The file's text; `what` names it in messages ("job file"). */
export async function readUserFile(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `${what} ${path} does not exist`
        : `cannot read ${what} ${path}: ${(cause as Error).message}`,
      EXIT.USAGE,
      { cause },
    );
  }
}

/** The usage error for a file with problems: `PATH is not a valid WHAT (N problems):` and each. */
export function invalidFile(path: string, what: string, issues: readonly ValidationIssue[]): CliError {
  const n = issues.length;
  return new CliError(
    `${path} is not a valid ${what} (${String(n)} problem${n === 1 ? '' : 's'}):\n${issues
      .map((i) => `  ${formatIssue(i)}`)
      .join('\n')}`,
    EXIT.USAGE,
  );
}
