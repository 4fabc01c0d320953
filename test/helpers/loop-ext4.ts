/**
 * A small ext4 file system on a loop device, mounted with `errors=remount-ro`, for fault tests:
 * `fail()` makes ext4 record an error (its sysfs `trigger_fs_error`), after which the kernel
 * refuses every write with EROFS while the mount still says `rw` (`emergency_ro`), as after real
 * I/O errors. `repair()` does what an operator would: unmount (once the daemons are stopped),
 * fsck, mount again at the same place. `destroy()` unmounts and removes it even when a test failed.
 * Needs root.
 *
 * Each mount is on a loop device of its own (`losetup --find`), never the one before: a process
 * that entered a new mount namespace while the file system was mounted (`ip netns exec`, a
 * container being set up, by any test running beside) holds a copy of the mount, so after the
 * umount the failed superblock lives on, bound to its loop device; `mount -o loop` would reuse that
 * device and so that superblock, still read-only (the cause of a rare red CI: dev restarted on the
 * "repaired" file system got EROFS). The root mount here is private, so the umount does not reach
 * those copies.
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
  /** Loop devices this file system was mounted from (detached by `destroy()`). */
  readonly #devices: string[] = [];

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
    const { stdout } = await run('losetup', ['--find', '--show', this.#image]);
    const device = stdout.trim();
    this.#devices.push(device);
    await run('mount', ['-o', 'errors=remount-ro', device, this.dir]);
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
    // Detached now, or (still held by a copy of the mount elsewhere) once the last user lets go.
    for (const d of this.#devices) await run('losetup', ['-d', d]).catch(() => undefined);
    await rm(join(this.#image, '..'), { recursive: true, force: true });
  }
}
