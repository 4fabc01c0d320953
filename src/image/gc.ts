/**
 * Garbage collection of an image store: mark what the roots reach (tagged images, plus the images
 * the caller says are in use: a host's tasks, a cluster's job versions), then sweep the blobs and
 * the unpacked layers nothing reaches. Mark and sweep, as containerd and registries do.
 *
 * A pull or import writes its blobs before it tags them, and a task's layers are unpacked before the
 * task is recorded: anything younger than the grace period is kept, so a collection running beside
 * them never takes what they are about to use. Unpacked layers whose directories are mounted (a
 * task's overlay lower) are reached through the in-use images, and never removed otherwise either.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from './blob-store.ts';
import { chainIds, digestHex, isDigest, type Digest } from './digest.ts';
import { parseImageConfig, parseManifestOrIndex } from './oci-types.ts';
import { mountedLowerNames } from './overlay.ts';
import { deleteSubvolume } from './btrfs-snapshots.ts';

export interface GcOptions {
  /** Image digests (manifest or index) kept besides the tagged ones. */
  inUse?: Iterable<Digest>;
  /** Keep what is younger than this (ms; default 10 minutes). */
  graceMs?: number;
  /**
   * Only what these images reach may go (and at once: no grace period). The images named are not
   * roots: they are being removed.
   */
  only?: Iterable<Digest>;
  /** Report what would go, remove nothing. */
  dryRun?: boolean;
  now?: number;
}

export interface GcResult {
  blobsRemoved: number;
  layersRemoved: number;
  bytesFreed: number;
  /** Blobs and layers kept because something reaches them (or they are too young to judge). */
  blobsKept: number;
  layersKept: number;
}

export interface GcStore {
  readonly blobs: BlobStore;
  readonly layersRoot: string;
  /** Flattened images (btrfs subvolumes named by top chain id), if the store makes them. */
  readonly snapshotsRoot?: string;
  readonly maxJsonBytes: number;
}

interface Marked {
  blobs: Set<string>;
  layers: Set<string>;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/** Marks a root (an index, a manifest) and all it reaches: manifests, configs, layers, unpacked layers. */
async function mark(store: GcStore, root: Digest, marked: Marked, depth = 0): Promise<void> {
  const hex = digestHex(root);
  if (marked.blobs.has(hex) || depth > 4) return;
  marked.blobs.add(hex);
  let parsed;
  try {
    parsed = parseManifestOrIndex(await store.blobs.readBytes(root, store.maxJsonBytes));
  } catch {
    return; // absent or not a manifest: nothing more to reach from it
  }
  if (parsed.kind === 'index') {
    for (const m of parsed.index.manifests) await mark(store, m.digest, marked, depth + 1);
    return;
  }
  const manifest = parsed.manifest;
  marked.blobs.add(digestHex(manifest.config.digest));
  for (const l of manifest.layers) marked.blobs.add(digestHex(l.digest));
  try {
    const config = parseImageConfig(await store.blobs.readBytes(manifest.config.digest, store.maxJsonBytes));
    for (const chain of chainIds(config.rootfs.diff_ids)) marked.layers.add(digestHex(chain));
  } catch {
    // no config: no unpacked layers can have been made from it
  }
}

async function sizeOf(path: string): Promise<number> {
  let total = 0;
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  const entries = await readdir(path).catch(() => [] as string[]);
  for (const e of entries) total += await sizeOf(join(path, e));
  return total;
}

/** Whether `path` changed within the grace period (being written, or just made). */
async function young(path: string, now: number, graceMs: number): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return false;
  return Math.max(st.mtimeMs, st.ctimeMs) > now - graceMs;
}

export async function collectGarbage(
  store: GcStore,
  roots: Iterable<Digest>,
  options: GcOptions = {},
): Promise<GcResult> {
  const now = options.now ?? Date.now();
  const graceMs = options.graceMs ?? 10 * 60 * 1000;
  const marked: Marked = { blobs: new Set(), layers: new Set() };
  for (const d of [...roots, ...(options.inUse ?? [])]) if (isDigest(d)) await mark(store, d, marked);
  let candidates: Marked | undefined;
  if (options.only !== undefined) {
    candidates = { blobs: new Set(), layers: new Set() };
    for (const d of options.only) if (isDigest(d)) await mark(store, d, candidates);
  }
  const goes = async (kind: keyof Marked, name: string, path: string): Promise<boolean> => {
    if (!SHA256_HEX.test(name) || marked[kind].has(name)) return false;
    if (candidates) return candidates[kind].has(name);
    return !(await young(path, now, graceMs));
  };
  const result: GcResult = { blobsRemoved: 0, layersRemoved: 0, bytesFreed: 0, blobsKept: 0, layersKept: 0 };

  const blobsDir = join(store.blobs.root, 'blobs', 'sha256');
  for (const name of await readdir(blobsDir).catch(() => [] as string[])) {
    const path = join(blobsDir, name);
    if (!(await goes('blobs', name, path))) {
      result.blobsKept++;
      continue;
    }
    const bytes = await sizeOf(path);
    if (!options.dryRun) await rm(path, { force: true });
    result.blobsRemoved++;
    result.bytesFreed += bytes;
  }

  const mounted = await mountedLowerNames();
  for (const name of await readdir(store.layersRoot).catch(() => [] as string[])) {
    const path = join(store.layersRoot, name);
    // Only unpacked layers (named by chain id); "empty" and unpacks in progress (.tmp-*) stay.
    if (mounted.has(name) || !(await goes('layers', name, path))) {
      result.layersKept++;
      continue;
    }
    const bytes = await sizeOf(path);
    if (!options.dryRun) await rm(path, { recursive: true, force: true });
    result.layersRemoved++;
    result.bytesFreed += bytes;
  }
  // A flattened image goes with its top layer; tasks' snapshots of it do not depend on it.
  const snapshotsRoot = store.snapshotsRoot;
  for (const name of snapshotsRoot === undefined
    ? []
    : await readdir(snapshotsRoot).catch(() => [] as string[])) {
    const path = join(snapshotsRoot ?? '', name);
    if (!(await goes('layers', name, path))) continue;
    if (!options.dryRun) await deleteSubvolume(path);
    result.layersRemoved++;
  }
  return result;
}

/** Bytes under the blob store and the unpacked layers. */
export async function diskUsage(blobRoot: string, layersRoot: string): Promise<number> {
  return (await sizeOf(join(blobRoot, 'blobs'))) + (await sizeOf(layersRoot));
}
