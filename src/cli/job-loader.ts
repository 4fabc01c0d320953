import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { JobSpec } from '../model/index.ts';
import { formatIssue, parseJobFile, toUserForm } from '../model/index.ts';
import { CliError } from './cli-error.ts';
import { EXIT } from './exit-codes.ts';

/**
 * Reads and validates a job file. Every problem is reported at once with file:line:column. A
 * relative `task.workingDir` is resolved against the job file's folder (like compose files).
 */
export async function loadJobFile(path: string): Promise<{ spec: JobSpec; userForm: unknown }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new CliError(
      code === 'ENOENT'
        ? `job file ${path} does not exist`
        : `cannot read job file ${path}: ${(cause as Error).message}`,
      EXIT.USAGE,
      { cause },
    );
  }
  const r = parseJobFile(text, path);
  if (!r.ok) {
    throw new CliError(
      `${path} is not a valid job file (${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}):\n${r.issues
        .map((i) => `  ${formatIssue(i)}`)
        .join('\n')}`,
      EXIT.USAGE,
    );
  }
  const spec = r.spec;
  if (spec.task.workingDir !== undefined && !isAbsolute(spec.task.workingDir)) {
    spec.task.workingDir = resolve(dirname(resolve(path)), spec.task.workingDir);
  }
  return { spec, userForm: toUserForm(spec) };
}
