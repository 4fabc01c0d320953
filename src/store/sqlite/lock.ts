import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { StoreError } from '../../errors/index.ts';

/**
 * One process owns a store file. The lock itself is SQLite's: the connection runs with
 * locking_mode=EXCLUSIVE and takes a write lock at open, which it holds until it closes. That is an
 * OS file lock, so it is released when the owner dies, even by SIGKILL, and never goes stale. Next to
 * the file, `<file>.lock` holds the owner's pid, only so that a refused opener can say who holds it.
 */

export function pidFilePath(dbPath: string): string {
  return `${dbPath}.lock`;
}

/** SQLITE_BUSY / SQLITE_LOCKED: another connection holds the lock. */
export function isLockedError(e: unknown): boolean {
  const code = (e as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}

export function lockedError(dbPath: string, cause: unknown): StoreError {
  let pid: number | undefined;
  try {
    const n = Number.parseInt(readFileSync(pidFilePath(dbPath), 'utf8').trim(), 10);
    if (Number.isSafeInteger(n) && n > 0) pid = n;
  } catch {
    // No pid file (yet): the holder has not written it, or it was removed.
  }
  const who =
    pid === undefined
      ? 'another process'
      : pid === process.pid
        ? `this process (pid ${pid}) through another SqliteStore`
        : `process ${pid}`;
  return new StoreError(
    `store file ${dbPath} is locked by ${who}; only one Dabba server may use a data directory at a time (stop the other one or use another --data-dir)`,
    { cause, details: pid === undefined ? { path: dbPath } : { path: dbPath, pid } },
  );
}

export function writePidFile(dbPath: string): void {
  writeFileSync(pidFilePath(dbPath), `${process.pid}\n`);
}

/** Removes the pid file if it still names this process. */
export function removePidFile(dbPath: string): void {
  try {
    const content = readFileSync(pidFilePath(dbPath), 'utf8').trim();
    if (content === String(process.pid)) rmSync(pidFilePath(dbPath), { force: true });
  } catch {
    // Already gone.
  }
}
