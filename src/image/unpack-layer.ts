/**
 * Unpacks one layer tar into its own directory, in the form overlayfs reads as a lower layer:
 *  - ".wh.NAME" (OCI whiteout) becomes a 0:0 character device NAME;
 *  - ".wh..wh..opq" (opaque directory) becomes a whiteout for every name the layers below show in
 *    that directory and this layer does not have (the same result as overlay's opaque xattr, without
 *    needing xattr tools; valid because unpacked layers are keyed by chain id, i.e. by their parents).
 * Paths are confined to the destination: ".." and writes through symlinks are refused.
 */
import {
  copyFile,
  lchown,
  link,
  lstat,
  lutimes,
  mkdir,
  open,
  readdir,
  rm,
  symlink,
  chmod,
  chown,
  utimes,
} from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join } from 'node:path';
import { ImageError } from './errors.ts';
import { runCommand } from './run-command.ts';
import type { TarEntry } from './tar-reader.ts';

export interface UnpackOptions {
  /** Already unpacked layers below this one, topmost first. */
  lowers: string[];
  /** Keep owners from the archive (needs root). Default: when running as root. */
  preserveOwner?: boolean;
}

export interface UnpackStats {
  entries: number;
  whiteouts: number;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

function cleanPath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) throw new ImageError('InvalidImage', `layer entry escapes the root: ${p}`);
  return parts.join('/');
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await lstat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function isWhiteoutStat(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

async function mknodAll(
  nodes: { path: string; mode: number; type: 'c' | 'b' | 'p'; major: number; minor: number }[],
): Promise<void> {
  if (nodes.length === 0) return;
  // One shell for the lot: Node has no mknod(2).
  const script =
    'while [ "$#" -gt 0 ]; do if [ "$3" = p ]; then mknod -m "$2" "$1" p || exit 1; else mknod -m "$2" "$1" "$3" "$4" "$5" || exit 1; fi; shift 5; done';
  const args = ['-c', script, 'mknod-all'];
  for (const n of nodes)
    args.push(n.path, (n.mode & 0o7777).toString(8), n.type, String(n.major), String(n.minor));
  const r = await runCommand('/bin/sh', args);
  if (r.code !== 0) {
    throw new ImageError(
      'UnpackFailed',
      `cannot create device nodes/whiteouts (root needed): ${r.stderr.trim()}`,
    );
  }
}

interface Meta {
  abs: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
}

export async function unpackLayer(
  entries: AsyncIterable<TarEntry>,
  dest: string,
  options: UnpackOptions,
): Promise<UnpackStats> {
  const preserveOwner = options.preserveOwner ?? process.getuid?.() === 0;
  const knownDirs = new Set<string>(['']);
  const dirMeta = new Map<string, Meta>();
  const whiteouts: string[] = [];
  const opaque: string[] = [];
  const nodes: {
    path: string;
    mode: number;
    type: 'c' | 'b' | 'p';
    major: number;
    minor: number;
    meta: Meta;
  }[] = [];
  let count = 0;

  async function ensureDir(rel: string): Promise<void> {
    if (knownDirs.has(rel)) return;
    await ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
    const abs = join(dest, rel);
    const st = await lstatOrUndefined(abs);
    if (!st) await mkdir(abs, { mode: 0o755 });
    else if (!st.isDirectory())
      throw new ImageError('InvalidImage', `layer writes through a non-directory: ${rel}`);
    knownDirs.add(rel);
  }

  async function parentOf(rel: string): Promise<void> {
    await ensureDir(rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '');
  }

  async function clear(abs: string, keepDir: boolean): Promise<void> {
    const st = await lstatOrUndefined(abs);
    if (!st) return;
    if (keepDir && st.isDirectory()) return;
    await rm(abs, { recursive: true, force: true });
  }

  async function applyMeta(m: Meta, isSymlink: boolean): Promise<void> {
    if (preserveOwner) await (isSymlink ? lchown : chown)(m.abs, m.uid, m.gid);
    if (!isSymlink) await chmod(m.abs, m.mode & 0o7777);
    const t = new Date(m.mtime * 1000);
    await (isSymlink ? lutimes : utimes)(m.abs, t, t);
  }

  for await (const entry of entries) {
    count++;
    const h = entry.header;
    const rel = cleanPath(h.path);
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    if (base === OPAQUE) {
      opaque.push(parent);
      continue;
    }
    if (base.startsWith(WH)) {
      if (!base.startsWith(`${WH}${WH}`))
        whiteouts.push(parent ? `${parent}/${base.slice(WH.length)}` : base.slice(WH.length));
      continue;
    }
    const abs = join(dest, rel);
    const meta: Meta = { abs, mode: h.mode, uid: h.uid, gid: h.gid, mtime: h.mtime };
    if (rel === '') {
      if (h.type === 'directory') dirMeta.set('', meta);
      continue;
    }
    await parentOf(rel);
    switch (h.type) {
      case 'directory': {
        await clear(abs, true);
        await ensureDir(rel);
        dirMeta.set(rel, meta);
        break;
      }
      case 'file': {
        await clear(abs, false);
        knownDirs.delete(rel);
        const fh = await open(abs, 'wx', 0o600);
        try {
          for await (const chunk of entry.body()) await fh.write(chunk);
        } finally {
          await fh.close();
        }
        await applyMeta(meta, false);
        break;
      }
      case 'symlink': {
        await clear(abs, false);
        knownDirs.delete(rel);
        await symlink(h.linkpath, abs);
        await applyMeta(meta, true);
        break;
      }
      case 'hardlink': {
        const target = cleanPath(h.linkpath);
        await clear(abs, false);
        knownDirs.delete(rel);
        // The target's directories must be real ones inside the layer (no symlink detours).
        const targetAbs = join(dest, target);
        const targetParent = target.includes('/') ? target.slice(0, target.lastIndexOf('/')) : '';
        if (!knownDirs.has(targetParent)) {
          const st = await lstatOrUndefined(join(dest, targetParent));
          if (st && !st.isDirectory())
            throw new ImageError('InvalidImage', `hard link through non-directory: ${h.linkpath}`);
        }
        const st = await lstatOrUndefined(targetAbs);
        if (st && !st.isDirectory()) {
          await link(targetAbs, abs);
        } else {
          // A link to a file of a lower layer: copy it (a hard link cannot cross layers).
          let copied = false;
          for (const lower of options.lowers) {
            const lst = await lstatOrUndefined(join(lower, target));
            if (lst?.isFile()) {
              await copyFile(join(lower, target), abs);
              await applyMeta(
                { abs, mode: lst.mode, uid: lst.uid, gid: lst.gid, mtime: lst.mtimeMs / 1000 },
                false,
              );
              copied = true;
              break;
            }
          }
          if (!copied) throw new ImageError('InvalidImage', `hard link ${rel} to missing ${h.linkpath}`);
        }
        break;
      }
      case 'char':
      case 'block':
      case 'fifo': {
        await clear(abs, false);
        knownDirs.delete(rel);
        nodes.push({
          path: abs,
          mode: h.mode,
          type: h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p',
          major: h.devmajor,
          minor: h.devminor,
          meta,
        });
        break;
      }
    }
  }

  await mknodAll(nodes);
  for (const n of nodes) await applyMeta(n.meta, false);

  // Whiteouts for names removed from the layers below (a name this layer also has wins).
  const wh: { path: string; mode: number; type: 'c'; major: number; minor: number }[] = [];
  const planned = new Set<string>();
  for (const rel of whiteouts) {
    if (await lstatOrUndefined(join(dest, rel))) continue;
    await parentOf(rel);
    if (!planned.has(rel)) wh.push({ path: join(dest, rel), mode: 0, type: 'c', major: 0, minor: 0 });
    planned.add(rel);
  }
  for (const dir of opaque) {
    await ensureDir(dir);
    for (const name of await visibleNames(options.lowers, dir)) {
      const rel = dir ? `${dir}/${name}` : name;
      if (planned.has(rel) || (await lstatOrUndefined(join(dest, rel)))) continue;
      wh.push({ path: join(dest, rel), mode: 0, type: 'c', major: 0, minor: 0 });
      planned.add(rel);
    }
  }
  await mknodAll(wh);

  // Directory modes and times last (writing children changes them), deepest first.
  const dirs = [...dirMeta.entries()].sort((a, b) => b[0].length - a[0].length);
  for (const [rel, m] of dirs) await applyMeta({ ...m, abs: join(dest, rel) }, false);
  return { entries: count, whiteouts: wh.length };
}

/** Names a merged view of `lowers` (topmost first) shows in directory `dir`. */
export async function visibleNames(lowers: string[], dir: string): Promise<string[]> {
  const names = new Set<string>();
  const hidden = new Set<string>();
  for (const lower of lowers) {
    const abs = join(lower, dir);
    let st: Stats | undefined;
    try {
      st = await lstat(abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      break; // ENOTDIR: a non-directory above hides everything below
    }
    if (!st.isDirectory()) break;
    for (const e of await readdir(abs, { withFileTypes: true })) {
      if (names.has(e.name) || hidden.has(e.name)) continue;
      if (e.isCharacterDevice() && isWhiteoutStat(await lstat(join(abs, e.name)))) hidden.add(e.name);
      else names.add(e.name);
    }
  }
  return [...names].sort();
}
