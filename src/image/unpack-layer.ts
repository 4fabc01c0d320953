/**
 * Unpacks one layer tar into its own directory, in the form overlayfs reads as a lower layer
 * (whiteouts as 0:0 character devices, see unpack-whiteouts.ts). Hostile archives are contained:
 *  - every path is resolved one component at a time under the root without following a symlink
 *    (unpack-paths.ts); ".." is refused, absolute paths are taken relative to the root;
 *  - what was known about a path is dropped once an entry replaces it (a directory turned symlink
 *    is never written through, nor gets the directory's mode);
 *  - metadata is applied through descriptors opened O_NOFOLLOW or with lchown/lutimes, and
 *    directories' metadata (applied last) re-checks the path;
 *  - hard links resolve their target the same way, here or in a lower layer;
 *  - character and block devices are not created (see unpack-entry.ts); fifos are.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { ImageError } from './errors.ts';
import type { TarEntry } from './tar-reader.ts';
import { applyEntry, type UnpackState } from './unpack-entry.ts';
import { parentOf, SafeRoot } from './unpack-paths.ts';
import { writeWhiteouts } from './unpack-whiteouts.ts';

export interface UnpackOptions {
  /** Already unpacked layers below this one, topmost first. */
  lowers: string[];
  /** Keep owners from the archive (needs root). Default: when running as root. */
  preserveOwner?: boolean;
}

export interface UnpackStats {
  entries: number;
  whiteouts: number;
  /** Device nodes the layer carried and that were not created. */
  skippedDevices: string[];
}

const DIR_NOFOLLOW = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Directory modes, owners and times, deepest first, each on a descriptor of the checked path. */
async function applyDirMeta(s: UnpackState): Promise<void> {
  const dirs = [...s.dirMeta.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [rel, m] of dirs) {
    if (!(await s.root.dirs(parentOf(rel), false, rel))) continue;
    let fh;
    try {
      fh = await open(s.root.abs(rel), DIR_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ELOOP' || code === 'ENOTDIR')
        throw new ImageError('InvalidImage', `directory ${rel} was replaced before its metadata was applied`);
      throw e;
    }
    try {
      if (s.preserveOwner) await fh.chown(m.uid, m.gid);
      await fh.chmod(m.mode & 0o7777);
      const t = new Date(m.mtime * 1000);
      await fh.utimes(t, t);
    } finally {
      await fh.close();
    }
  }
}

export async function unpackLayer(
  entries: AsyncIterable<TarEntry>,
  dest: string,
  options: UnpackOptions,
): Promise<UnpackStats> {
  const s: UnpackState = {
    root: new SafeRoot(dest),
    lowers: options.lowers,
    preserveOwner: options.preserveOwner ?? process.getuid?.() === 0,
    dirMeta: new Map(),
    whiteouts: [],
    opaque: [],
    skippedDevices: new Set(),
  };
  let count = 0;
  for await (const entry of entries) {
    count++;
    await applyEntry(s, entry);
  }
  const whiteouts = await writeWhiteouts(s.root, s.lowers, s.whiteouts, s.opaque);
  await applyDirMeta(s);
  return { entries: count, whiteouts, skippedDevices: [...s.skippedDevices].sort() };
}
