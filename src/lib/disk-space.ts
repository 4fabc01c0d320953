/**
 * Free space and writability of a directory's file system (statfs, access), for the storage
 * monitors of the server and the agent and for the messages of storage errors.
 */
import { constants, accessSync, statfsSync } from 'node:fs';
import { access, stat, statfs } from 'node:fs/promises';

export interface DiskSpace {
  /** Bytes an unprivileged writer may still use (statfs f_bavail). */
  freeBytes: number;
  totalBytes: number;
  /** freeBytes as a percentage of totalBytes (0 to 100). */
  freePercent: number;
}

function fromStatfs(s: { bsize: number; blocks: number; bavail: number }): DiskSpace {
  const totalBytes = s.blocks * s.bsize;
  const freeBytes = s.bavail * s.bsize;
  return { freeBytes, totalBytes, freePercent: totalBytes > 0 ? (freeBytes / totalBytes) * 100 : 0 };
}

/** Free space of the file system holding path, or undefined when it cannot be read. */
export async function diskSpace(path: string): Promise<DiskSpace | undefined> {
  try {
    return fromStatfs(await statfs(path));
  } catch {
    return undefined;
  }
}

/** diskSpace, synchronously (for an error message built where awaiting is not possible). */
export function diskSpaceSync(path: string): DiskSpace | undefined {
  try {
    return fromStatfs(statfsSync(path));
  } catch {
    return undefined;
  }
}

/** False when the directory's file system is mounted read-only (access(2) answers EROFS). */
export async function writableFs(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EROFS';
  }
}

/** writableFs, synchronously. */
export function writableFsSync(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EROFS';
  }
}

/** "3.2 MiB free of 4 MiB (80%)" */
export function describeSpace(s: DiskSpace | undefined): string {
  if (s === undefined) return 'free space unknown';
  return `${mib(s.freeBytes)} free of ${mib(s.totalBytes)} (${s.freePercent.toFixed(1)}%)`;
}

function mib(bytes: number): string {
  const m = bytes / 1024 ** 2;
  return m >= 1024 ? `${(m / 1024).toFixed(1)} GiB` : `${m.toFixed(m < 10 ? 1 : 0)} MiB`;
}

/** The paths that exist, one per file system (the first of each), for a disk monitor to watch. */
export async function distinctFileSystems(paths: string[]): Promise<string[]> {
  const seen = new Set<number>();
  const out: string[] = [];
  for (const p of paths) {
    try {
      const { dev } = await stat(p);
      if (seen.has(dev)) continue;
      seen.add(dev);
      out.push(p);
    } catch {
      // Not there (yet): its parent is watched instead.
    }
  }
  return out;
}
