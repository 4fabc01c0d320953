/**
 * A small ext4 file system on a loop device, mounted with `errors=remount-ro`, for fault tests:
 * `fail()` makes ext4 record an error (its sysfs `trigger_fs_error`), after which the kernel
 * refuses every write with EROFS while the mount still says `rw` (`emergency_ro`), as after real
 * I/O errors. `repair()` does what an operator would: unmount (once the daemons are stopped),
 * fsck, mount again at the same place. `destroy()` unmounts and removes it even when a test failed.
 * Needs root.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class LoopExt4 {
  readonly dir: string;
  readonly #image: string;

  private constructor(dir: string, image: string) {
    this.dir = dir;
    this.#image = image;
  }

  /** An ext4 of `mb` MiB mounted on `dir` (created if missing). */
  static async mount(dir: string, mb = 64): Promise<LoopExt4> {
    const images = await mkdtemp(join(tmpdir(), 'dabba-ext4-'));
    const image = join(images, 'fs.img');
    await run('truncate', ['-s', `${mb}M`, image]);
    await run('mkfs.ext4', ['-q', '-F', image]);
    await mkdir(dir, { recursive: true });
    const fs = new LoopExt4(dir, image);
    await fs.#mount();
    return fs;
  }

  async #mount(): Promise<void> {
    await run('mount', ['-o', 'loop,errors=remount-ro', this.#image, this.dir]);
  }

  /** The loop device's name (loopN), as in /sys/fs/ext4. */
  async #device(): Promise<string> {
    const { stdout } = await run('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', this.dir]);
    return basename(stdout.trim().split('\n').pop() ?? '');
  }

  /**
   * Writes out what is cached (what a long-running system has long written), then records an
   * ext4 error: the file system turns emergency read-only.
   */
  async syncAndFail(): Promise<void> {
    await run('sync', ['-f', this.dir]);
    await writeFile(`/sys/fs/ext4/${await this.#device()}/trigger_fs_error`, 'dabba fault test');
  }

  /**
   * Unmounts, checks and mounts again: writable again, with what was committed. Only once nothing
   * holds a file there (the kernel keeps a busy file system as it is, even lazily unmounted).
   */
  async repair(): Promise<void> {
    for (let i = 0; ; i++) {
      const done = await run('umount', [this.dir]).then(
        () => true,
        (e: unknown) => {
          if (i >= 20) throw e;
          return false;
        },
      );
      if (done) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    await run('e2fsck', ['-f', '-y', this.#image]).catch((e: unknown) => {
      // 1: errors were corrected (expected after the recorded error).
      if ((e as { code?: number }).code !== 1) throw e;
    });
    await this.#mount();
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const r = await run('umount', ['-l', this.dir]).then(
        () => true,
        () => false,
      );
      if (!r) break;
    }
    await rm(join(this.#image, '..'), { recursive: true, force: true });
  }
}
