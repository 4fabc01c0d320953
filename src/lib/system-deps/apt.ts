/**
 * Installing the missing packages with apt, where that is possible: as root on Debian or Ubuntu
 * (or a derivative that says so in /etc/os-release) with apt-get present.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Env } from './probe.ts';
import { findCommand } from './probe.ts';

export type Installability = { ok: true; aptGet: string } | { ok: false; reason: string };

/** The ID and ID_LIKE of an os-release file's text, lower case. */
export function osFamily(osRelease: string): { id: string; like: string[]; name: string } {
  const field = (k: string): string =>
    (new RegExp(`^${k}=(.*)$`, 'm').exec(osRelease)?.[1] ?? '').replace(/^["']|["']$/g, '').trim();
  return {
    id: field('ID').toLowerCase(),
    like: field('ID_LIKE').toLowerCase().split(/\s+/).filter(Boolean),
    name: field('PRETTY_NAME') || field('NAME') || 'an unknown system',
  };
}

/** Whether this machine can install packages with apt itself, and if not, why. */
export async function installability(env: Env = process.env): Promise<Installability> {
  if (process.platform !== 'linux') return { ok: false, reason: `this is ${process.platform}, not Linux` };
  const text = await readFile('/etc/os-release', 'utf8').catch(() =>
    readFile('/usr/lib/os-release', 'utf8').catch(() => ''),
  );
  const os = osFamily(text);
  const debianLike = [os.id, ...os.like].some((x) => x === 'debian' || x === 'ubuntu');
  if (!debianLike)
    return { ok: false, reason: `this is ${os.name}, not Debian or Ubuntu (the list names Debian packages)` };
  const aptGet = await findCommand('apt-get', env);
  if (aptGet === undefined) return { ok: false, reason: 'apt-get is not on PATH' };
  const uid = process.getuid?.() ?? -1;
  if (uid !== 0) return { ok: false, reason: `installing needs root (running as uid ${uid})` };
  return { ok: true, aptGet };
}

/** What a person runs to install `missing` (as root, or with sudo). */
export function installCommands(missing: readonly string[], asRoot = false): string[] {
  const sudo = asRoot ? '' : 'sudo ';
  return [`${sudo}apt-get update`, `${sudo}apt-get install -y ${missing.join(' ')}`];
}

function run(cmd: string, args: string[], env: Env): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/**
 * `apt-get update` then `apt-get install` of `packages`, output shown as it comes (progress on the
 * terminal). Returns which step failed, if one did.
 */
export async function aptInstall(
  aptGet: string,
  packages: readonly string[],
  env: Env = process.env,
): Promise<{ ok: true } | { ok: false; step: string; code: number }> {
  const update = [aptGet, ['update']] as const;
  const install = [aptGet, ['install', '-y', '--no-install-recommends', ...packages]] as const;
  for (const [cmd, args] of [update, install]) {
    const code = await run(cmd, [...args], env);
    if (code !== 0) return { ok: false, step: `apt-get ${args.join(' ')}`, code };
  }
  return { ok: true };
}
