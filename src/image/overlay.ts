/** Overlay mounts for task root filesystems, and a look at what is mounted. */
import { readFile } from 'node:fs/promises';
import { relative, resolve } from 'node:path';
import { ImageError } from './errors.ts';
import { runCommand, type CommandRunner } from './run-command.ts';

/** Mount points currently visible to this process (from /proc/self/mountinfo, unescaped). */
export async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const mp = f[4];
    if (mp) out.push(mp.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

/**
 * The names (64 hex digits: unpacked layers' chain ids) in the lower directories of the overlays
 * mounted now, whatever form the kernel shows them in (relative or absolute): layers in use.
 */
export async function mountedLowerNames(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.includes(' - overlay ')) continue;
    const lower = /lowerdir=([^,\s]*)/.exec(line)?.[1] ?? '';
    for (const m of lower.matchAll(/[0-9a-f]{64}/g)) out.add(m[0]);
  }
  return out;
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountPoints()).includes(path);
}

/**
 * Mounts an overlay at `target`: `lowers` bottom first (all under `lowerRoot`, named relative to
 * it to keep the option string short), a writable `upper` and its `work` dir.
 */
export async function mountOverlay(
  lowerRoot: string,
  lowers: string[],
  upper: string,
  work: string,
  target: string,
  run: CommandRunner = runCommand,
): Promise<void> {
  // mount runs in lowerRoot (the layers are named relative to it, to keep the options short): every
  // other path must not depend on the caller's working directory.
  const lowerdir = [...lowers]
    .reverse()
    .map((l) => relative(resolve(lowerRoot), resolve(l)))
    .join(':');
  const options = `lowerdir=${lowerdir},upperdir=${resolve(upper)},workdir=${resolve(work)}`;
  if (options.length > 4000)
    throw new ImageError('MountFailed', `too many layers to mount (${lowers.length})`);
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', options, resolve(target)], {
    cwd: resolve(lowerRoot),
  });
  if (r.code !== 0) {
    throw new ImageError(
      'MountFailed',
      `overlay mount at ${target} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
      {
        details: { target },
      },
    );
  }
}

/** Mounts a read-only overlay of `lowers` (bottom first, at least two) at `target`. */
export async function mountOverlayReadOnly(
  lowers: string[],
  target: string,
  run: CommandRunner = runCommand,
): Promise<void> {
  const options = `lowerdir=${[...lowers]
    .reverse()
    .map((l) => resolve(l))
    .join(':')}`;
  const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,${options}`, resolve(target)]);
  if (r.code !== 0) {
    throw new ImageError(
      'MountFailed',
      `overlay mount at ${target} failed: ${r.stderr.trim() || `exit ${r.code}`}`,
      {
        details: { target },
      },
    );
  }
}

/** Unmounts `target` if mounted; falls back to a lazy unmount when it is busy. */
export async function unmount(target: string, run: CommandRunner = runCommand): Promise<void> {
  for (let i = 0; i < 3 && (await isMountPoint(target)); i++) {
    const r = await run('umount', [target]);
    if (r.code === 0) continue;
    if (i === 2 || /busy/i.test(r.stderr)) {
      const lazy = await run('umount', ['-l', target]);
      if (lazy.code !== 0) {
        throw new ImageError('MountFailed', `cannot unmount ${target}: ${lazy.stderr.trim()}`, {
          details: { target },
        });
      }
    }
  }
}
