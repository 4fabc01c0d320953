/**
 * Whether a directory takes writes, by writing: one byte rewritten in place in a small probe file
 * (`.dabba-write-probe`, made once). The mount's read-only flag (statfs, access(2)) does not show the
 * kernel's emergency read-only after I/O errors (ext4 `errors=remount-ro` on recent kernels marks
 * the file system `emergency_ro` and fails every write with EROFS or EIO while it still says `rw`):
 * a real write does. Rewriting a byte the file already has needs no free space, so a full disk is
 * not taken for a read-only one. Cheap: an open, a one-byte pwrite and a close.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';

export const PROBE_FILE = '.dabba-write-probe';

/** The errnos that say the file system refuses writes. */
const REFUSED = new Set(['EROFS', 'EIO']);
/** Neither append nor truncate: the byte at 0 is rewritten, the file stays one byte. */
const FLAGS = constants.O_WRONLY | constants.O_CREAT;

/** The errno a write in `dir` fails with (EROFS, EIO), or undefined if it takes writes (or it cannot tell). */
export async function writeRefused(dir: string): Promise<string | undefined> {
  try {
    const fh = await open(join(dir, PROBE_FILE), FLAGS, 0o600);
    try {
      await fh.write(Buffer.from('.'), 0, 1, 0);
    } finally {
      await fh.close();
    }
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    return REFUSED.has(code) ? code : undefined;
  }
}

/** writeRefused, synchronously (for an error path that is synchronous). */
export function writeRefusedSync(dir: string): string | undefined {
  try {
    const fd = openSync(join(dir, PROBE_FILE), FLAGS, 0o600);
    try {
      writeSync(fd, Buffer.from('.'), 0, 1, 0);
    } finally {
      closeSync(fd);
    }
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    return REFUSED.has(code) ? code : undefined;
  }
}
