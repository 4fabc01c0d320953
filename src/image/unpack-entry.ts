/**
 * Applies one tar entry of a layer under a SafeRoot: each entry type has its writer. Every writer
 * runs after the entry's parent directories were checked to be real directories (see
 * unpack-paths.ts), replaces what was at the path (forgetting what was known about it), creates the
 * final component exclusively and sets metadata without following a link.
 */
import { constants } from 'node:fs';
import { link, lchown, lutimes, open, symlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { ImageError } from './errors.ts';
import type { TarEntry } from './tar-reader.ts';
import type { TarHeader } from './tar-header.ts';
import { mknodAll } from './unpack-whiteouts.ts';
import { baseOf, cleanEntryPath, isUnder, parentOf, SafeRoot } from './unpack-paths.ts';

export const WH = '.wh.';
export const OPAQUE = '.wh..wh..opq';

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const READ_NOFOLLOW = constants.O_RDONLY | constants.O_NOFOLLOW;

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

/** What the unpack of one layer knows as it goes. */
export interface UnpackState {
  root: SafeRoot;
  /** Already unpacked layers below this one, topmost first. */
  lowers: string[];
  preserveOwner: boolean;
  /** Directory metadata, applied at the end (writing children changes mtimes). */
  dirMeta: Map<string, Meta>;
  whiteouts: string[];
  opaque: string[];
  /** Device nodes the layer declared and that were not created. */
  skippedDevices: Set<string>;
}

/** Forgets everything known about `rel` and below: it is being replaced. */
function forget(s: UnpackState, rel: string): void {
  s.root.forget(rel);
  for (const k of s.dirMeta.keys()) if (k !== '' && isUnder(k, rel)) s.dirMeta.delete(k);
  for (const k of s.skippedDevices) if (isUnder(k, rel)) s.skippedDevices.delete(k);
}

/** Removes what is at `rel` (anything: a later entry replaces an earlier one, whatever its type). */
async function replace(s: UnpackState, rel: string): Promise<void> {
  forget(s, rel);
  await s.root.remove(rel);
}

async function setMeta(s: UnpackState, fh: FileHandle, m: Meta): Promise<void> {
  // chown before chmod: chown clears set-id bits.
  if (s.preserveOwner) await fh.chown(m.uid, m.gid);
  await fh.chmod(m.mode & 0o7777);
  const t = new Date(m.mtime * 1000);
  await fh.utimes(t, t);
}

/** Metadata of a symlink or fifo by path: the l* calls act on the link itself. */
async function setLinkMeta(s: UnpackState, abs: string, m: Meta): Promise<void> {
  if (s.preserveOwner) await lchown(abs, m.uid, m.gid);
  const t = new Date(m.mtime * 1000);
  await lutimes(abs, t, t);
}

async function writeFile(s: UnpackState, rel: string, entry: TarEntry, m: Meta): Promise<void> {
  await replace(s, rel);
  const fh = await open(s.root.abs(rel), CREATE_FLAGS, 0o600);
  try {
    for await (const chunk of entry.body()) await fh.write(chunk);
    await setMeta(s, fh, m);
  } finally {
    await fh.close();
  }
}

async function copyFrom(s: UnpackState, fromAbs: string, rel: string, m: Meta): Promise<void> {
  const src = await open(fromAbs, READ_NOFOLLOW);
  try {
    const fh = await open(s.root.abs(rel), CREATE_FLAGS, 0o600);
    try {
      for await (const chunk of src.createReadStream({ autoClose: false })) await fh.write(chunk as Buffer);
      await setMeta(s, fh, m);
    } finally {
      await fh.close();
    }
  } finally {
    await src.close();
  }
}

function refuseLink(h: TarHeader, why: string): never {
  throw new ImageError(
    'InvalidImage',
    `hard link ${h.path.slice(0, 300)} -> ${h.linkpath.slice(0, 300)}: ${why}`,
    {
      details: { path: h.path, target: h.linkpath },
    },
  );
}

/**
 * A hard link: the target is resolved under the root like any path (a symlinked parent is refused);
 * a target only a lower layer has is copied (a hard link cannot cross layers), resolved the same way
 * in that layer. Directories, devices and links to a device the layer declared are refused.
 */
async function writeHardlink(s: UnpackState, rel: string, h: TarHeader): Promise<void> {
  const target = cleanEntryPath(h.linkpath, `hard link target of ${h.path.slice(0, 300)}`);
  if (target === '' || target === rel) refuseLink(h, 'links to itself or to the root');
  if (s.skippedDevices.has(target)) refuseLink(h, 'links to a device node');
  const here = await s.root.lstat(target);
  if (here) {
    if (!(here.isFile() || here.isSymbolicLink() || here.isFIFO()))
      refuseLink(h, here.isDirectory() ? 'links to a directory' : 'links to a device node');
    if (isUnder(target, rel)) refuseLink(h, 'its target lies under the link path');
    await replace(s, rel);
    await link(s.root.abs(target), s.root.abs(rel));
    return;
  }
  for (const lower of s.lowers) {
    const safe = new SafeRoot(lower);
    const st = await safe.lstat(target);
    if (!st) continue;
    if (!st.isFile()) refuseLink(h, 'its target in a lower layer is not a regular file');
    await replace(s, rel);
    await copyFrom(s, safe.abs(target), rel, {
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      mtime: st.mtimeMs / 1000,
    });
    return;
  }
  refuseLink(h, 'its target does not exist');
}

/** Applies one entry; whiteouts and opaque markers are only recorded (they are written at the end). */
export async function applyEntry(s: UnpackState, entry: TarEntry): Promise<void> {
  const h = entry.header;
  const rel = cleanEntryPath(h.path);
  const base = baseOf(rel);
  const parent = parentOf(rel);
  if (base === OPAQUE) {
    s.opaque.push(parent);
    return;
  }
  if (base.startsWith(WH)) {
    if (base.startsWith(`${WH}${WH}`)) return; // other overlay/aufs meta files
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..')
      throw new ImageError('InvalidImage', `bad whiteout name in layer: ${h.path.slice(0, 300)}`);
    s.whiteouts.push(parent ? `${parent}/${name}` : name);
    return;
  }
  const meta: Meta = { mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
  if (rel === '') {
    if (h.type !== 'directory')
      throw new ImageError('InvalidImage', `layer entry "${h.path}" would replace the layer root`);
    s.dirMeta.set('', meta);
    return;
  }
  await s.root.dirs(parent, true, rel);
  const abs = s.root.abs(rel);
  switch (h.type) {
    case 'directory': {
      const st = await s.root.lstat(rel);
      if (st && !st.isDirectory()) await replace(s, rel);
      await s.root.dirs(rel, true);
      s.dirMeta.set(rel, meta);
      return;
    }
    case 'file':
      return writeFile(s, rel, entry, meta);
    case 'symlink':
      // The target is stored as written and never followed here: inside the container it resolves
      // against the container's root.
      await replace(s, rel);
      await symlink(h.linkpath, abs);
      return setLinkMeta(s, abs, meta);
    case 'hardlink':
      return writeHardlink(s, rel, h);
    case 'fifo':
      await replace(s, rel);
      await mknodAll([{ path: abs, mode: h.mode, type: 'p', major: 0, minor: 0 }]);
      return setLinkMeta(s, abs, meta);
    case 'char':
    case 'block':
      // Not created: the container's /dev comes from the runtime (runc makes its default devices and
      // the device cgroup denies every other one), so a device node from an image is either hidden
      // or unusable; creating it would only put host device access on disk. What this layer had at
      // the path is removed, and hard links to it are refused.
      await replace(s, rel);
      s.skippedDevices.add(rel);
      return;
  }
}
