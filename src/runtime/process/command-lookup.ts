/** Finds the executable a command names, the way execvp would, so a missing one is a clear error. */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Absolute path of the executable for `command`: as a path when it holds a slash (relative to
 * cwd), else the first match on PATH. Undefined when there is none.
 */
export async function resolveCommand(
  command: string,
  pathEnv: string,
  cwd: string,
): Promise<string | undefined> {
  if (command === '') return undefined;
  if (command.includes('/')) {
    const p = resolve(cwd, command);
    return (await isExecutableFile(p)) ? p : undefined;
  }
  for (const dir of pathEnv.split(':')) {
    const p = join(resolve(cwd, dir === '' ? '.' : dir), command);
    if (await isExecutableFile(p)) return p;
  }
  return undefined;
}
