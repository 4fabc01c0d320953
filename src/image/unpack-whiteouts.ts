/**
 * Whiteouts in the overlay lower-layer format, and mknod (Node has none):
 *  - ".wh.NAME" (OCI whiteout) becomes a 0:0 character device NAME;
 *  - ".wh..wh..opq" (opaque directory) becomes a whiteout for every name the layers below show in
 *    that directory and this layer does not have (the same result as overlay's opaque xattr, without
 *    needing xattr tools; valid because unpacked layers are keyed by chain id, i.e. by their parents).
 * Lower layers are read through SafeRoot as well: a symlink in a lower layer is never followed.
 */
import type { Stats } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { ImageError } from './errors.ts';
import { runCommand } from './run-command.ts';
import { lstatOrUndefined, SafeRoot } from './unpack-paths.ts';

export interface NodeSpec {
  /** Absolute path, its parent already checked; the node is created exclusively. */
  path: string;
  mode: number;
  type: 'c' | 'p';
  major: number;
  minor: number;
}

/** Creates device nodes (whiteouts) and fifos, one shell for the lot. Needs root for devices. */
export async function mknodAll(nodes: NodeSpec[]): Promise<void> {
  if (nodes.length === 0) return;
  // mknod fails on an existing path (a symlink included): it never follows one.
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

function isWhiteoutStat(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/** Names a merged view of `lowers` (topmost first) shows in directory `dir`. */
export async function visibleNames(lowers: string[], dir: string): Promise<string[]> {
  const names = new Set<string>();
  const hidden = new Set<string>();
  for (const lower of lowers) {
    const safe = new SafeRoot(lower);
    let present: boolean;
    try {
      present = await safe.dirs(dir, false);
    } catch (e) {
      if (e instanceof ImageError) break; // a non-directory above hides everything below
      throw e;
    }
    if (!present) continue;
    const abs = safe.abs(dir);
    for (const e of await readdir(abs, { withFileTypes: true })) {
      if (names.has(e.name) || hidden.has(e.name)) continue;
      const st = e.isCharacterDevice() ? await lstatOrUndefined(`${abs}/${e.name}`) : undefined;
      if (st && isWhiteoutStat(st)) hidden.add(e.name);
      else names.add(e.name);
    }
  }
  return [...names].sort();
}

/**
 * Writes the whiteouts of a layer: for names removed from the layers below (a name this layer also
 * has wins) and for everything below an opaque directory. Returns how many it made.
 */
export async function writeWhiteouts(
  root: SafeRoot,
  lowers: string[],
  whiteouts: string[],
  opaque: string[],
): Promise<number> {
  const wh: NodeSpec[] = [];
  const planned = new Set<string>();
  const plan = (rel: string): void => {
    if (!planned.has(rel)) wh.push({ path: root.abs(rel), mode: 0, type: 'c', major: 0, minor: 0 });
    planned.add(rel);
  };
  for (const rel of whiteouts) {
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
    await root.dirs(parent, true, rel);
    if (!(await lstatOrUndefined(root.abs(rel)))) plan(rel);
  }
  for (const dir of opaque) {
    await root.dirs(dir, true);
    for (const name of await visibleNames(lowers, dir)) {
      const rel = dir ? `${dir}/${name}` : name;
      if (!planned.has(rel) && !(await lstatOrUndefined(root.abs(rel)))) plan(rel);
    }
  }
  await mknodAll(wh);
  return wh.length;
}
