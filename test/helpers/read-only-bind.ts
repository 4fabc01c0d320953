/**
 * Turns a directory read-only under running processes, for fault tests: a read-only bind mount of
 * the directory put over it (`mount --bind D D`, then `remount,bind,ro`). From then on every path
 * under D is on a read-only mount: creating, renaming, deleting or opening a file for writing fails
 * with EROFS, and statvfs/access say read-only. Descriptors opened for writing before keep writing
 * (Linux takes write access away from an open file only through a forced emergency remount; a
 * plain `remount,ro` of a file system with files open for writing is refused with EBUSY).
 * `release()` unmounts it (lazily if busy): the directory is writable again. Needs root. A remount
 * refused because a file was being opened for writing at that moment is tried again (up to 1 s).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class ReadOnlyBind {
  readonly dir: string;
  #mounted: boolean;

  private constructor(dir: string) {
    this.dir = dir;
    this.#mounted = true;
  }

  static async over(dir: string): Promise<ReadOnlyBind> {
    await run('mount', ['--bind', dir, dir]);
    const ro = new ReadOnlyBind(dir);
    // The remount is refused (EBUSY) while a file is open for writing through the new mount: a
    // daemon's periodic write probe may open one in the moment between the two commands. Tried again.
    for (let attempt = 1; ; attempt++) {
      try {
        await run('mount', ['-o', 'remount,bind,ro', dir]);
        return ro;
      } catch (e) {
        if (attempt < 20 && /busy/i.test((e as { stderr?: string }).stderr ?? '')) {
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        await ro.release();
        throw e;
      }
    }
  }

  /** Unmounts the read-only mount (idempotent). */
  async release(): Promise<void> {
    if (!this.#mounted) return;
    this.#mounted = false;
    await run('umount', [this.dir]).catch(() => run('umount', ['-l', this.dir]));
  }
}
