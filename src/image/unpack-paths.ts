/**
 * Paths inside an unpack root, resolved one component at a time without following symlinks.
 *
 * Node has no openat(2) or O_PATH, so the choice is between walking /proc/self/fd/N/NAME (each step
 * still resolves NAME by path, so it needs an O_NOFOLLOW|O_DIRECTORY open per level, a descriptor
 * per level and /proc mounted) and an lstat per component. We lstat, because of who can change the
 * tree: the unpack root is a fresh directory of ours (under the store's layers directory, which only
 * the store writes) and this process is its only writer while a layer is unpacked. The archive is
 * then the only adversary, and it can act only through the entries we apply one after another, so
 * nothing changes a path between our lstat and our use of it. Under that condition the check is
 * exact, provided that
 *  - every directory on the way is checked to be a real directory (not a symlink, not a file);
 *  - the final component is created exclusively (open O_CREAT|O_EXCL|O_NOFOLLOW, mkdir, symlink,
 *    link and mknod never follow a final symlink: they fail with EEXIST);
 *  - metadata is set through a descriptor opened O_NOFOLLOW, or with lchown/lutimes, never chmod
 *    or chown by path.
 * Components checked to be real directories are remembered, and forgotten (with everything under
 * them) as soon as the path is replaced by another entry.
 */
import type { Stats } from 'node:fs';
import { mkdir, lstat, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from './errors.ts';

/**
 * An entry path made relative to the root: leading "/" and "." components are dropped (absolute
 * paths are contained under the root, as tar does), ".." anywhere is refused.
 */
export function cleanEntryPath(p: string, what = 'layer entry'): string {
  if (p.includes('\0')) throw new ImageError('InvalidImage', `${what} has a NUL byte in its path`);
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) {
    throw new ImageError(
      'InvalidImage',
      `${what} "${p.slice(0, 300)}" has a ".." component (it would leave the root)`,
    );
  }
  return parts.join('/');
}

/** The directory part of a relative path ("" for a name at the root). */
export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

/** True when `rel` is `prefix` or lies under it. */
export function isUnder(rel: string, prefix: string): boolean {
  return prefix === '' || rel === prefix || rel.startsWith(`${prefix}/`);
}

export async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFile()) return 'a file';
  return 'not a directory';
}

export class SafeRoot {
  readonly root: string;
  /** Relative paths known to be real directories right now (see the file comment). */
  readonly #dirs = new Set<string>(['']);

  constructor(root: string) {
    this.root = root;
  }

  abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * Checks that `rel` and every directory above it are real directories, creating missing ones
   * (mode 0755) when `create`; returns false when one is missing and `create` is false. A component
   * that is a symlink or not a directory is refused; the error names `entry`, the path being
   * written (default `rel`).
   */
  async dirs(rel: string, create: boolean, entry = rel): Promise<boolean> {
    if (rel === '') return true;
    let prefix = '';
    for (const part of rel.split('/')) {
      prefix = prefix === '' ? part : `${prefix}/${part}`;
      if (this.#dirs.has(prefix)) continue;
      const st = await lstatOrUndefined(this.abs(prefix));
      if (!st) {
        if (!create) return false;
        await mkdir(this.abs(prefix), { mode: 0o755 });
      } else if (!st.isDirectory()) {
        throw new ImageError(
          'InvalidImage',
          `layer path "${entry.slice(0, 300)}" goes through "${prefix.slice(0, 300)}", which is ${kindOf(st)}`,
          { details: { path: entry, through: prefix } },
        );
      }
      this.#dirs.add(prefix);
    }
    return true;
  }

  /** The final component's lstat, its parents checked (not created); undefined when absent. */
  async lstat(rel: string): Promise<Stats | undefined> {
    if (!(await this.dirs(parentOf(rel), false, rel))) return undefined;
    return lstatOrUndefined(this.abs(rel));
  }

  /** Removes whatever is at `rel` (its parents already checked) and forgets what was known under it. */
  async remove(rel: string): Promise<void> {
    const st = await lstatOrUndefined(this.abs(rel));
    this.forget(rel);
    if (!st) return;
    // rm does not follow symlinks, neither the final one nor inside a directory tree.
    await rm(this.abs(rel), { recursive: st.isDirectory(), force: true });
  }

  /** Drops what is known about `rel` and everything under it. */
  forget(rel: string): void {
    for (const d of this.#dirs) if (d !== '' && isUnder(d, rel)) this.#dirs.delete(d);
  }
}
