/**
 * A small tmpfs for fault tests (a full disk, a read-only one): mounted on a fresh temp dir, resized
 * and remounted while in use, and unmounted and removed by `destroy()` even when the test failed.
 * Needs root (the test machine's user).
 */
import { execFile } from 'node:child_process';
import { open, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class Tmpfs {
  readonly dir: string;
  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A tmpfs of `size` (mount's notation: 4m, 64m) on a new temp dir (or on `dir`, which must exist). */
  static async mount(size: string, dir?: string): Promise<Tmpfs> {
    const at = dir ?? (await mkdtemp(join(tmpdir(), 'dabba-tmpfs-')));
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', at]);
    return new Tmpfs(at);
  }

  async remount(options: string): Promise<void> {
    await run('mount', ['-o', `remount,${options}`, this.dir]);
  }

  /**
   * Writes a file of zeros until the file system is full (ENOSPC) or `bytes` are written; returns
   * how many bytes it wrote.
   */
  async fill(name: string, bytes = Number.MAX_SAFE_INTEGER): Promise<number> {
    const fh = await open(join(this.dir, name), 'a');
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    try {
      while (written < bytes) {
        const n = Math.min(chunk.length, bytes - written);
        try {
          const r = await fh.write(chunk, 0, n);
          written += r.bytesWritten;
          if (r.bytesWritten < n) break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    } finally {
      await fh.close();
    }
    return written;
  }

  /** Unmounts (lazily if busy) and removes the mount point. */
  async destroy(): Promise<void> {
    await run('umount', [this.dir]).catch(() => run('umount', ['-l', this.dir]).catch(() => undefined));
    await rm(this.dir, { recursive: true, force: true });
  }
}
