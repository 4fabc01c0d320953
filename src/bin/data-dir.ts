/**
 * A daemon's data directory, made and checked before anything opens a file in it. A read-only file
 * system, a directory the user may not write, a file in the way, or a disk too full to make the
 * directory become one error that says what, where and how to fix it, instead of an errno from deep
 * inside (Node's recursive mkdir even reports a read-only parent as ENOENT). A full disk under a
 * directory that exists is no error: the daemon starts degraded, as it runs on one.
 */
import { constants } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { DabbaError, StorageFullError, StorageReadOnlyError } from '../errors/index.ts';

const PROBE = '.dabba-start-probe';

/** How the errors name the directory and the option that moves it. */
export interface DataDirNames {
  /** Default "the data directory". */
  what?: string;
  /** Default "--data-dir". */
  flag?: string;
}

/** Makes `dir` (and its parents) and checks that a file can be written in it. */
export async function prepareDataDir(dir: string, names: DataDirNames = {}): Promise<void> {
  const n = { what: names.what ?? 'the data directory', flag: names.flag ?? '--data-dir' };
  const abs = resolve(dir);
  try {
    await mkdir(abs, { recursive: true });
  } catch (e) {
    throw dataDirError(abs, n, await realMkdirFailure(abs, e));
  }
  const probe = join(abs, PROBE);
  try {
    const fh = await open(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o600);
    try {
      await fh.write('.');
    } finally {
      await fh.close();
    }
    await rm(probe, { force: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // A full disk is not a reason to stay down: the daemon starts degraded, serves reads, and takes
    // writes again once there is room (docs/operations.md). The directory itself is usable.
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      await rm(probe, { force: true }).catch(() => undefined);
      return;
    }
    throw dataDirError(abs, n, { error: e as NodeJS.ErrnoException, at: abs });
  }
}

/**
 * The error behind a failed recursive mkdir: Node reports any failure it cannot name as the stat
 * of the path (ENOENT), so the first missing directory is made again, alone, for its own errno.
 */
async function realMkdirFailure(
  abs: string,
  e: unknown,
): Promise<{ error: NodeJS.ErrnoException; at: string }> {
  let missing = abs;
  for (;;) {
    const parent = dirname(missing);
    if (parent === missing) break;
    const exists = await stat(parent).then(
      () => true,
      () => false,
    );
    if (exists) break;
    missing = parent;
  }
  try {
    await mkdir(missing);
  } catch (inner) {
    return { error: inner as NodeJS.ErrnoException, at: dirname(missing) };
  }
  return { error: e as NodeJS.ErrnoException, at: abs };
}

function dataDirError(
  abs: string,
  n: Required<DataDirNames>,
  f: { error: NodeJS.ErrnoException; at: string },
): Error {
  const code = f.error.code ?? 'error';
  const details = { path: abs, where: f.at, errno: code };
  const head = `cannot use ${n.what} ${abs} (${code})`;
  const other = `use another ${n.flag}`;
  switch (code) {
    case 'EROFS':
      return new StorageReadOnlyError(
        `${head}: ${f.at} is on a read-only file system; ${other} on a writable file system, or remount it read-write`,
        { ...details, reason: 'read-only' },
        { cause: f.error },
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new StorageFullError(
        `${head}: no space left in ${f.at}; free some space there, or ${other}`,
        { ...details, reason: 'full' },
        { cause: f.error },
      );
    case 'EACCES':
    case 'EPERM':
      return new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `${head}: no permission to write in ${f.at} (running as uid ${String(process.getuid?.() ?? '?')}); ${other} in a directory this user owns, or give this user write access there`,
        { cause: f.error, details },
      );
    case 'ENOTDIR':
    case 'EEXIST':
      return new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `${head}: a part of the path is a file, not a directory; move the file away, or ${other}`,
        { cause: f.error, details },
      );
    default:
      return new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `${head}: ${f.error.message}${code === 'EIO' ? ' (an I/O error: check the kernel log)' : ''}; ${other}`,
        { cause: f.error, details },
      );
  }
}
