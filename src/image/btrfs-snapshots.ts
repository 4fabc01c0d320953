/**
 * Root filesystems as btrfs snapshots, where the image store lives on btrfs (as Tupperware made
 * containers from btrfs snapshots): each image is flattened once into a read-only subvolume
 * `snapshots/<top chain id hex>` (its layers applied in order, by copying the read-only overlay of
 * its unpacked layers with reflinks, so whiteouts and opaque directories read as they do in an
 * overlay), and each task's root filesystem is a writable snapshot of it, made in constant time.
 * No mount per task; `btrfs subvolume delete` removes it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from './errors.ts';
import { mountOverlayReadOnly, unmount } from './overlay.ts';
import { runCommand, type CommandRunner } from './run-command.ts';

/** statfs(2) f_type of btrfs. */
const BTRFS_SUPER_MAGIC = 0x9123683e;
/** The inode number of a btrfs subvolume's root directory (BTRFS_FIRST_FREE_OBJECTID). */
const SUBVOLUME_ROOT_INO = 256;

export async function onBtrfs(path: string): Promise<boolean> {
  try {
    return (await statfs(path)).type === BTRFS_SUPER_MAGIC;
  } catch {
    return false;
  }
}

/** Whether `path` is the root of a btrfs subvolume (or snapshot). */
export async function isSubvolume(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  return st !== undefined && st.isDirectory() && st.ino === SUBVOLUME_ROOT_INO && (await onBtrfs(path));
}

async function btrfs(args: string[], run: CommandRunner, what: string): Promise<void> {
  const r = await run('btrfs', args);
  if (r.code !== 0)
    throw new ImageError(
      'MountFailed',
      `${what}: btrfs ${args[0] ?? ''} ${args[1] ?? ''}: ${r.stderr.trim() || `exit ${r.code}`}`,
    );
}

/** Deletes the subvolume at `path` if there is one. */
export async function deleteSubvolume(path: string, run: CommandRunner = runCommand): Promise<void> {
  if (await isSubvolume(path)) await btrfs(['subvolume', 'delete', path], run, `deleting ${path}`);
}

export class SnapshotCache {
  /** Where the flattened images are (subvolumes named by top chain id hex). */
  readonly root: string;
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(root: string) {
    this.root = root;
  }

  /** Deletes flattenings left half made (by a crash). */
  async init(): Promise<void> {
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (!name.startsWith('.tmp-')) continue;
      await deleteSubvolume(join(this.root, name)).catch(() => undefined);
      await rm(join(this.root, name), { recursive: true, force: true });
    }
  }

  /**
   * The image's flattened subvolume (made if missing) from its unpacked layers, bottom first;
   * `key` names it (the top chain id hex). `empty` is an empty directory (an overlay without an
   * upper directory needs two lower ones).
   */
  flattened(key: string, lowers: string[], empty: string): Promise<string> {
    let p = this.inflight.get(key);
    if (!p) {
      p = this.flatten(key, lowers, empty).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async flatten(key: string, lowers: string[], empty: string): Promise<string> {
    const dest = join(this.root, key);
    if (await isSubvolume(dest)) return dest;
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    const tmp = join(this.root, `.tmp-${key.slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    const merged = `${tmp}.merged`;
    await btrfs(['subvolume', 'create', tmp], runCommand, `flattening image ${key}`);
    try {
      await mkdir(merged);
      await mountOverlayReadOnly([...lowers, empty], merged);
      try {
        const r = await runCommand('cp', ['-a', '--reflink=auto', `${merged}/.`, `${tmp}/`]);
        if (r.code !== 0)
          throw new ImageError('MountFailed', `flattening image ${key}: cp: ${r.stderr.trim()}`);
      } finally {
        await unmount(merged);
        await rm(merged, { recursive: true, force: true });
      }
      await btrfs(['property', 'set', '-ts', tmp, 'ro', 'true'], runCommand, `flattening image ${key}`);
      // Another process may have made it meanwhile: then that one is used.
      const r = await runCommand('mv', ['-T', tmp, dest]);
      if (r.code !== 0 && !(await isSubvolume(dest)))
        throw new ImageError('MountFailed', `flattening image ${key}: ${r.stderr.trim()}`);
    } finally {
      await deleteSubvolume(tmp).catch(() => undefined);
    }
    return dest;
  }

  /** A writable snapshot of the flattened image `source` at `target` (which must not exist). */
  async snapshot(source: string, target: string, run: CommandRunner = runCommand): Promise<void> {
    await btrfs(['subvolume', 'snapshot', source, target], run, `snapshot of ${source}`);
  }
}
