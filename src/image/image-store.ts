/**
 * The image store of one host: DIR/blobs (content-addressed, verified), DIR/refs.json (name:tag ->
 * manifest digest), DIR/layers (layers unpacked once, shared), DIR/ingest (partial downloads).
 * Task root filesystems are overlay mounts of the shared layers with a per-task upper directory.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { NotFoundError } from '../errors/index.ts';
import { BlobStore } from './blob-store.ts';
import { createImageFromDir, type CreateImageOptions } from './create-from-dir.ts';
import { collectGarbage, diskUsage, type GcOptions, type GcResult } from './gc.ts';
import { chainIds, digestHex, isDigest, type Digest } from './digest.ts';
import { exportArchive, exportLayout } from './export.ts';
import { importArchive, importLayout, importPath, type ImportOptions } from './import.ts';
import { LayerCache } from './layer-cache.ts';
import { resolveLimits, type ImageLimits } from './limits.ts';
import { imageDefaults, loadImage } from './load-image.ts';
import { MEDIA, parseManifestOrIndex } from './oci-types.ts';
import { isMountPoint, mountOverlay, unmount } from './overlay.ts';
import { runCommand, type CommandRunner } from './run-command.ts';
import { SnapshotCache, deleteSubvolume, onBtrfs } from './btrfs-snapshots.ts';
import { pullImage, type PullOptions } from './pull.ts';
import { canonicalName, parseReference } from './reference.ts';
import type {
  ImageDefaults,
  ImageInfo,
  ImageSource,
  ImageSummary,
  ImageWriter,
  ManifestBytes,
} from './types.ts';

interface RefEntry {
  digest: Digest;
  createdAt: number;
}

interface RefsFile {
  version: 1;
  images: Record<string, RefEntry>;
}

/**
 * A task's root filesystem at `rootfs`: an overlay mounted there (`upper` and `work` its writable
 * part), or, where the store lives on btrfs, a snapshot of the flattened image (`upper` is then
 * `rootfs` itself and `work` is empty).
 */
export interface RootfsMount {
  kind: 'overlay' | 'btrfs';
  rootfs: string;
  upper: string;
  work: string;
  /** Layer directories, bottom first. */
  lowers: string[];
}

/** How tasks' root filesystems are made: `auto` is btrfs snapshots where the store is on btrfs. */
export type RootfsKind = 'auto' | 'overlay';

export class ImageStore implements ImageWriter {
  readonly dir: string;
  readonly blobs: BlobStore;
  readonly layers: LayerCache;
  private readonly refsPath: string;
  private refsLock: Promise<unknown> = Promise.resolve();
  /** Parsed images by digest (content never changes under a digest). */
  private readonly loaded = new Map<Digest, ImageInfo>();

  /** Bounds on what images may make this store read, expand or create. */
  readonly limits: ImageLimits;

  /** Flattened images for btrfs snapshots (used where the store lives on btrfs). */
  private readonly snapshots: SnapshotCache;
  private readonly rootfsKind: RootfsKind;
  private btrfs: Promise<boolean> | undefined;

  private constructor(dir: string, limits: ImageLimits, rootfsKind: RootfsKind) {
    // Absolute: mount runs in another working directory.
    this.dir = resolve(dir);
    this.limits = limits;
    this.rootfsKind = rootfsKind;
    this.snapshots = new SnapshotCache(join(this.dir, 'snapshots'));
    this.blobs = new BlobStore(this.dir);
    this.layers = new LayerCache(join(this.dir, 'layers'), this.blobs, limits);
    this.refsPath = join(this.dir, 'refs.json');
  }

  /**
   * Opens (creating) the store in `dir`. `options.limits` override the bounds; unset ones come from
   * the DABBA_IMAGE_MAX_* environment variables, then the defaults (see limits.ts). `options.rootfs`:
   * `overlay` makes tasks' root filesystems overlays even where the store is on btrfs.
   */
  static async open(
    dir: string,
    options: { limits?: Partial<ImageLimits>; rootfs?: RootfsKind } = {},
  ): Promise<ImageStore> {
    const s = new ImageStore(dir, resolveLimits(options.limits), options.rootfs ?? 'auto');
    await mkdir(s.dir, { recursive: true });
    await s.blobs.init();
    await s.layers.init();
    if (await s.snapshotsUsable()) await s.snapshots.init();
    return s;
  }

  // ---- names ----

  private async readRefs(): Promise<RefsFile> {
    try {
      const v = JSON.parse(await readFile(this.refsPath, 'utf8')) as RefsFile;
      return { version: 1, images: v.images ?? {} };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, images: {} };
      throw e;
    }
  }

  private async updateRefs(fn: (refs: RefsFile) => void): Promise<void> {
    const run = this.refsLock.then(async () => {
      const refs = await this.readRefs();
      fn(refs);
      const tmp = `${this.refsPath}.${randomBytes(4).toString('hex')}`;
      await writeFile(tmp, JSON.stringify(refs, null, 2));
      await rename(tmp, this.refsPath);
    });
    this.refsLock = run.catch(() => undefined);
    await run;
  }

  /** Points name[:tag] at a stored manifest or index. */
  async tag(name: string, digest: Digest): Promise<void> {
    const key = canonicalName(parseReference(name));
    if (!(await this.blobs.has(digest))) throw new NotFoundError('blob', digest);
    await this.updateRefs((r) => {
      r.images[key] = { digest, createdAt: Date.now() };
    });
  }

  /** Removes a name (blobs and unpacked layers stay; they are shared). Returns whether it existed. */
  async untag(name: string): Promise<boolean> {
    const key = canonicalName(parseReference(name));
    let existed = false;
    await this.updateRefs((r) => {
      existed = key in r.images;
      delete r.images[key];
    });
    return existed;
  }

  /** Resolves a reference (name[:tag] or name@digest) to the digest it names. */
  async resolve(ref: string): Promise<Digest | undefined> {
    if (isDigest(ref)) return (await this.blobs.has(ref)) ? ref : undefined;
    const r = parseReference(ref);
    if (r.digest) return (await this.blobs.has(r.digest)) ? r.digest : undefined;
    return (await this.readRefs()).images[canonicalName(r)]?.digest;
  }

  async load(name: string, digest: Digest): Promise<ImageInfo> {
    let info = this.loaded.get(digest);
    if (!info) {
      info = await loadImage(this.blobs, name, digest, this.limits);
      if (this.loaded.size > 256) this.loaded.clear();
      this.loaded.set(digest, info);
    }
    return { ...info, name };
  }

  /** The image a reference names, or undefined. */
  async get(ref: string): Promise<ImageInfo | undefined> {
    const digest = await this.resolve(ref);
    if (!digest) return undefined;
    const name = isDigest(ref) ? ref : parseReference(ref).digest ? ref : canonicalName(parseReference(ref));
    return this.load(name, digest);
  }

  /** Like get, but a missing image is a NotFoundError (kind "image"). */
  async require(ref: string): Promise<ImageInfo> {
    const img = await this.get(ref);
    if (!img) throw new NotFoundError('image', ref);
    return img;
  }

  async list(): Promise<ImageSummary[]> {
    const refs = await this.readRefs();
    const out: ImageSummary[] = [];
    for (const [name, e] of Object.entries(refs.images).sort(([a], [b]) => a.localeCompare(b))) {
      try {
        const img = await this.load(name, e.digest);
        const s: ImageSummary = {
          name,
          digest: e.digest,
          size: img.size,
          layers: img.manifest.layers.length,
        };
        if (img.created !== undefined) s.created = img.created;
        out.push(s);
      } catch {
        // A name whose blobs are gone is not listed.
      }
    }
    return out;
  }

  defaults(image: ImageInfo): ImageDefaults {
    return imageDefaults(image);
  }

  /** When each name was tagged (ms): the age an agent's collection goes by. */
  async tagged(): Promise<{ name: string; digest: Digest; createdAt: number }[]> {
    const refs = await this.readRefs();
    return Object.entries(refs.images).map(([name, e]) => ({ name, ...e }));
  }

  // ---- garbage collection ----

  /**
   * Removes the blobs and unpacked layers that no tagged image and no image of `options.inUse`
   * reaches (see gc.ts). With `options.only`, only what those images reach is a candidate, and the
   * grace period does not apply: how `dabba image rm` frees an image's content at once.
   */
  async collectGarbage(options: GcOptions = {}): Promise<GcResult> {
    const roots = (await this.tagged()).map((t) => t.digest);
    return collectGarbage(
      {
        blobs: this.blobs,
        layersRoot: this.layers.root,
        snapshotsRoot: this.snapshots.root,
        maxJsonBytes: this.limits.maxJsonBytes,
      },
      roots,
      options,
    );
  }

  /** Bytes the store holds (blobs and unpacked layers). */
  async diskUsage(): Promise<number> {
    return diskUsage(this.blobs.root, this.layers.root);
  }

  // ---- import / export / create ----

  /** Imports an OCI layout directory, an OCI archive or a docker-save tarball (gzip or not). */
  async import(path: string, options: ImportOptions = {}): Promise<ImageInfo[]> {
    return importPath(this, path, options);
  }

  async importArchive(file: string, options: ImportOptions = {}): Promise<ImageInfo[]> {
    return importArchive(this, file, options);
  }

  async importLayout(dir: string, options: ImportOptions = {}): Promise<ImageInfo[]> {
    return importLayout(this, dir, options);
  }

  async createFromDir(name: string, dir: string, options: CreateImageOptions = {}): Promise<ImageInfo> {
    return createImageFromDir(this, name, dir, options);
  }

  async exportLayout(refs: string[], dir: string): Promise<void> {
    await exportLayout(this.blobs, await Promise.all(refs.map((r) => this.require(r))), dir);
  }

  async exportArchive(refs: string[], file: string): Promise<void> {
    await exportArchive(this.blobs, await Promise.all(refs.map((r) => this.require(r))), file);
  }

  // ---- distribution ----

  async hasBlob(digest: Digest): Promise<boolean> {
    return this.blobs.has(digest);
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    return this.blobs.size(digest);
  }

  /** The blob's bytes from `offset` on (for an HTTP GET with a Range header). */
  async readBlob(digest: Digest, offset = 0): Promise<Readable> {
    return this.blobs.open(digest, offset);
  }

  /** The manifest (or index) bytes a reference names, as a server hands them out. */
  async getManifest(ref: string): Promise<ManifestBytes | undefined> {
    const digest = await this.resolve(ref);
    if (!digest) return undefined;
    const bytes = await this.blobs.readBytes(digest, this.limits.maxJsonBytes);
    const parsed = parseManifestOrIndex(bytes);
    const mediaType =
      (parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType) ??
      (parsed.kind === 'index' ? MEDIA.ociIndex : MEDIA.ociManifest);
    return { digest, mediaType, bytes };
  }

  /** Fetches `name` from a source: missing blobs only, verified, resuming partial downloads. */
  async pullFrom(source: ImageSource, name: string, options: PullOptions = {}): Promise<ImageInfo> {
    return pullImage(this, source, name, options);
  }

  // ---- root filesystems ----

  /** Unpacks the image's layers (once; shared) and returns their directories, bottom first. */
  async unpack(image: ImageInfo): Promise<string[]> {
    const dirs = await this.layers.ensure(image);
    return dirs.length > 0 ? dirs : [await this.layers.emptyLayer()];
  }

  /** Whether tasks' root filesystems are btrfs snapshots here (the store on btrfs, btrfs-progs there). */
  snapshotsUsable(): Promise<boolean> {
    this.btrfs ??= (async () =>
      this.rootfsKind === 'auto' &&
      (await onBtrfs(this.dir)) &&
      (await runCommand('btrfs', ['--version'])).code === 0)();
    return this.btrfs;
  }

  /**
   * Makes the image's root filesystem at TASKDIR/rootfs: a snapshot of the flattened image where
   * the store and TASKDIR are on btrfs, else an overlay mounted there with TASKDIR/upper and
   * TASKDIR/work as its writable part. Undo with releaseRootfs(TASKDIR). `run` runs mount or btrfs
   * (default: spawned from here).
   */
  async prepareRootfs(image: ImageInfo, taskDir: string, run?: CommandRunner): Promise<RootfsMount> {
    const lowers = await this.unpack(image);
    const rootfs = join(taskDir, 'rootfs');
    if ((await this.snapshotsUsable()) && (await onBtrfs(taskDir))) {
      const top = chainIds(image.config.rootfs.diff_ids).at(-1);
      const key = top === undefined ? 'empty' : digestHex(top);
      const flat = await this.snapshots.flattened(key, lowers, await this.layers.emptyLayer());
      await this.snapshots.snapshot(flat, rootfs, run);
      return { kind: 'btrfs', rootfs, upper: rootfs, work: '', lowers };
    }
    const m: RootfsMount = {
      kind: 'overlay',
      rootfs,
      upper: join(taskDir, 'upper'),
      work: join(taskDir, 'work'),
      lowers,
    };
    await Promise.all([
      mkdir(m.upper, { recursive: true, mode: 0o755 }),
      mkdir(m.work, { recursive: true, mode: 0o700 }),
      mkdir(m.rootfs, { recursive: true, mode: 0o755 }),
    ]);
    try {
      await mountOverlay(this.layers.root, lowers, m.upper, m.work, m.rootfs, run);
    } catch (e) {
      await rm(m.upper, { recursive: true, force: true });
      await rm(m.work, { recursive: true, force: true });
      await rm(m.rootfs, { recursive: true, force: true });
      throw e;
    }
    return m;
  }

  /** Unmounts TASKDIR/rootfs (or deletes its snapshot) and deletes the task's writable layer. Idempotent. */
  async releaseRootfs(taskDir: string, run?: CommandRunner): Promise<void> {
    const rootfs = join(taskDir, 'rootfs');
    await unmount(rootfs, run);
    if (await isMountPoint(rootfs)) throw new Error(`${rootfs} is still mounted`);
    await deleteSubvolume(rootfs, run);
    await rm(rootfs, { recursive: true, force: true });
    await rm(join(taskDir, 'upper'), { recursive: true, force: true });
    await rm(join(taskDir, 'work'), { recursive: true, force: true });
  }
}
